using Apache.Arrow;

namespace StreamEngine.Core.Dsl;

/// <summary>Rows for one of a job's results tables (named under the configured database).</summary>
public sealed record TableRows(string Table, RecordBatch Rows);

/// <summary>
/// One named, idempotent schema change of a job beyond its declared results tables: statements with <c>{database}</c>
/// for the database. The library numbers a job's steps; a step is never edited once applied, a new one is added.
/// </summary>
public sealed record SchemaStep(string Name, IReadOnlyList<string> Statements);
