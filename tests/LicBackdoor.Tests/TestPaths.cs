namespace LicBackdoor.Tests;

/// <summary>
/// Locations of the shared, read-only test inputs that live beside the repository (never inside it):
/// <c>../shared/fixtures/compressai</c> (files written by CompressAI) and <c>../shared/data</c>.
/// Environment variables <c>LICB_FIXTURES</c> and <c>LICB_DATA</c> override them; otherwise the
/// directories are found by walking up from the test assembly's directory.
/// </summary>
public static class TestPaths
{
    private static readonly Lazy<string> FixturesPath = new(() => Resolve("LICB_FIXTURES", Path.Combine("shared", "fixtures", "compressai")));
    private static readonly Lazy<string> DataPath = new(() => Resolve("LICB_DATA", Path.Combine("shared", "data")));

    /// <summary>The CompressAI fixture directory.</summary>
    public static string Fixtures => FixturesPath.Value;

    /// <summary>The shared data directory.</summary>
    public static string Data => DataPath.Value;

    /// <summary>Full path of a file in <see cref="Fixtures"/>.</summary>
    public static string Fixture(string fileName) => Path.Combine(Fixtures, fileName);

    private static string Resolve(string variable, string relative)
    {
        string? fromEnv = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(fromEnv))
        {
            if (!Directory.Exists(fromEnv))
                throw new DirectoryNotFoundException($"{variable} points to '{fromEnv}', which does not exist");
            return Path.GetFullPath(fromEnv);
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException(
            $"could not find '{relative}' in any parent of {AppContext.BaseDirectory}; set {variable}");
    }
}
