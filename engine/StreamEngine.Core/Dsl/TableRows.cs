using Apache.Arrow;

namespace StreamEngine.Core.Dsl;

/// <summary>Rows for one of a job's results tables (named under the configured database).</summary>
public sealed record TableRows(string Table, RecordBatch Rows);

/// <summary>One versioned, idempotent schema change of a job: statements with <c>{database}</c> for the database.</summary>
public sealed record SchemaStep(int Version, string Name, IReadOnlyList<string> Statements);
