using System.Reflection;

namespace StreamEngine.UnitTests;

/// <summary>The dependency boundaries docs/architecture.md fixes, checked on the compiled assemblies.</summary>
public sealed class ArchitectureTests
{
    private static readonly string[] ForbiddenInCore = ["Confluent.Kafka", "ClickHouse", "StreamEngine.ClickHouse", "StreamEngine.Kafka", "NATS", "Microsoft.AspNetCore", "StreamEngine.Host", "StreamEngine.AdEvents", "StreamEngine.Jobs"];

    [Fact]
    public void The_core_references_no_Kafka_ClickHouse_NATS_or_ASP_NET()
    {
        var core = Assembly.Load("StreamEngine.Core");

        var references = core.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.DoesNotContain(references, name => ForbiddenInCore.Any(f => name.StartsWith(f, StringComparison.Ordinal)));
    }

    [Fact]
    public void The_tests_oracles_share_nothing_with_the_engine()
    {
        // A reference reader or counting that used the engine's decoder or aggregation would agree with its bugs.
        var project = File.ReadAllText(Path.Combine(RepositoryRoot(), "tests", "StreamEngine.TestOracles", "StreamEngine.TestOracles.csproj"));

        Assert.DoesNotContain("ProjectReference", project, StringComparison.Ordinal);
        Assert.DoesNotContain("PackageReference", project, StringComparison.Ordinal);
    }

    [Fact]
    public void The_runtime_references_the_core_only()
    {
        var runtime = Assembly.Load("StreamEngine.Runtime");

        var references = runtime.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.Contains("StreamEngine.Core", references);
        Assert.DoesNotContain(references, name => ForbiddenInCore.Append("StreamEngine.Jobs").Any(f => name.StartsWith(f, StringComparison.Ordinal)));
        var project = File.ReadAllText(Path.Combine(RepositoryRoot(), "engine", "StreamEngine.Runtime", "StreamEngine.Runtime.csproj"));
        Assert.DoesNotContain("connectors", project, StringComparison.OrdinalIgnoreCase);
        // Logging's abstractions are the one package: contracts only, no implementation to drag along.
        Assert.Equal(["Microsoft.Extensions.Logging.Abstractions"],
            System.Text.RegularExpressions.Regex.Matches(project, "PackageReference Include=\"([^\"]+)\"").Select(m => m.Groups[1].Value));
    }

    [Fact]
    public void The_core_and_the_connectors_know_no_ad_domain()
    {
        // The core knows windows, state and time; the connectors are generic over a format (IEventFormat).
        var core = Assembly.Load("StreamEngine.Core");
        Assert.DoesNotContain(core.GetExportedTypes(), t => t.Namespace!.Contains("AdEvents", StringComparison.Ordinal) || t.Name.StartsWith("Ad", StringComparison.Ordinal));
        foreach (var connector in new[] { "StreamEngine.Kafka", "StreamEngine.ClickHouse", "StreamEngine.Runtime" })
        {
            var references = Assembly.Load(connector).GetReferencedAssemblies().Select(a => a.Name!);
            Assert.DoesNotContain(references, name => name is "StreamEngine.AdEvents" or "StreamEngine.Jobs");
        }
    }

    [Fact]
    public void The_streaming_jobs_and_the_ad_domain_reference_no_connector_or_host()
    {
        // A job is its pipeline over the runtime's ports; only dynamic-pricing, which reads stored results, needs ClickHouse
        // (and has its own project for that, StreamEngine.Jobs.ClickHouse).
        string[] connectors = ["Confluent.Kafka", "ClickHouse", "StreamEngine.ClickHouse", "StreamEngine.Kafka", "NATS", "StreamEngine.Nats", "Microsoft.AspNetCore", "StreamEngine.Host"];
        foreach (var assembly in new[] { "StreamEngine.Jobs", "StreamEngine.AdEvents" })
        {
            var references = Assembly.Load(assembly).GetReferencedAssemblies().Select(a => a.Name!).ToList();
            Assert.DoesNotContain(references, name => connectors.Any(c => name.StartsWith(c, StringComparison.Ordinal)));
        }

        Assert.Contains("StreamEngine.ClickHouse", Assembly.Load("StreamEngine.Jobs.ClickHouse").GetReferencedAssemblies().Select(a => a.Name!));
    }

    [Fact]
    public void The_Dockerfile_copies_every_project_the_host_restores_before_the_restore()
    {
        // The image restores from the project files alone (a cached layer); one missing makes the build fail.
        var root = RepositoryRoot();
        var projects = new SortedSet<string>(StringComparer.Ordinal);
        void Visit(string project)
        {
            if (!projects.Add(Path.GetRelativePath(root, project).Replace('\\', '/')))
            {
                return;
            }

            foreach (System.Text.RegularExpressions.Match reference in System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(project), "ProjectReference Include=\"([^\"]+)\""))
            {
                Visit(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(project)!, reference.Groups[1].Value.Replace('\\', '/'))));
            }
        }

        Visit(Path.Combine(root, "engine", "StreamEngine.Host", "StreamEngine.Host.csproj"));
        var dockerfile = File.ReadAllText(Path.Combine(root, "deploy", "docker", "Dockerfile"));
        var beforeRestore = dockerfile[..dockerfile.IndexOf("RUN dotnet restore", StringComparison.Ordinal)];
        var copied = System.Text.RegularExpressions.Regex.Matches(beforeRestore, @"^COPY (\S+\.csproj) ", System.Text.RegularExpressions.RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        Assert.Equal(projects, new SortedSet<string>(copied, StringComparer.Ordinal));
    }

    [Fact]
    public void The_core_project_file_references_no_connector_or_host()
    {
        var project = File.ReadAllText(Path.Combine(RepositoryRoot(), "engine", "StreamEngine.Core", "StreamEngine.Core.csproj"));

        Assert.DoesNotContain("connectors", project, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(ForbiddenInCore, f => project.Contains($"Include=\"{f}", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_package_version_is_pinned_centrally()
    {
        var root = RepositoryRoot();
        var templates = Path.Combine(root, "templates") + Path.DirectorySeparatorChar;
        var projects = Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        var central = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Path.Combine(root, "Directory.Packages.props")), "PackageVersion Include=\"([^\"]+)\" Version=\"([^\"]+)\"")
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);

        Assert.NotEmpty(projects);
        Assert.All(projects.Where(p => !p.StartsWith(templates, StringComparison.Ordinal)), p => Assert.DoesNotMatch("<PackageReference[^>]*Version=", File.ReadAllText(p)));
        Assert.DoesNotMatch(@"Version=""[^""]*[\*\[\(]", File.ReadAllText(Path.Combine(root, "Directory.Packages.props")));
        // A project made from the template stands outside the repository, so it names its versions: the same ones.
        var templated = projects.Where(p => p.StartsWith(templates, StringComparison.Ordinal))
            .SelectMany(p => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(p), "PackageReference Include=\"([^\"]+)\" Version=\"([^\"]+)\""))
            .ToList();
        Assert.NotEmpty(templated);
        Assert.All(templated, m => Assert.Equal(central[m.Groups[1].Value], m.Groups[2].Value));
    }

    [Fact]
    public void Only_the_host_composes_connectors_and_nothing_references_the_host()
    {
        string[] connectors = ["StreamEngine.Kafka", "StreamEngine.ClickHouse", "StreamEngine.Nats"];
        foreach (var connector in connectors)
        {
            var references = Assembly.Load(connector).GetReferencedAssemblies().Select(a => a.Name!).ToList();
            Assert.DoesNotContain(references, name => connectors.Contains(name) || name == HostName);
        }

        foreach (var assembly in new[] { "StreamEngine.Core", "StreamEngine.Runtime", "StreamEngine.AdEvents", "StreamEngine.Jobs", "StreamEngine.Jobs.ClickHouse" })
        {
            Assert.DoesNotContain(HostName, Assembly.Load(assembly).GetReferencedAssemblies().Select(a => a.Name!));
        }

        var host = typeof(Host.Program).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.All(connectors, c => Assert.Contains(c, host));
    }

    /// <summary>The host's assembly is the command's name.</summary>
    private static string HostName => typeof(Host.Program).Assembly.GetName().Name!;

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "StreamEngine.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("StreamEngine.sln not found above " + AppContext.BaseDirectory);
    }
}
