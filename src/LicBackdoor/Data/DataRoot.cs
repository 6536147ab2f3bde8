namespace LicBackdoor.Data;

/// <summary>
/// Where the shared data lives (Kodak, photos, CamVid, faces, pretrained weights). One setting: the
/// <c>--data</c> option of the CLI, else the <c>LICB_DATA</c> environment variable, else a
/// <c>shared/data</c> folder found beside the repository (walking up from the working directory and from
/// the program's folder). The data is never part of the repository.
/// </summary>
public static class DataRoot
{
    /// <summary>The environment variable naming the data folder.</summary>
    public const string EnvironmentVariable = "LICB_DATA";

    /// <summary>Resolves the data folder, or throws a clear error saying how to set it.</summary>
    public static string Resolve(string? explicitPath = null)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
            return Directory.Exists(explicitPath) ? Path.GetFullPath(explicitPath)
                : throw new DirectoryNotFoundException($"{explicitPath}: data folder does not exist");
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
            return Directory.Exists(env) ? Path.GetFullPath(env)
                : throw new DirectoryNotFoundException($"{env}: data folder named by {EnvironmentVariable} does not exist");
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data");
                if (Directory.Exists(Path.Combine(candidate, "kodak"))) return candidate;
            }
        }
        throw new DirectoryNotFoundException($"data folder not found: pass --data DIR or set {EnvironmentVariable} (e.g. to ../shared/data)");
    }

    /// <summary>A sub-folder of the data root, checked to exist.</summary>
    public static string Folder(string name, string? explicitRoot = null)
    {
        var path = Path.Combine(Resolve(explicitRoot), name);
        return Directory.Exists(path) ? path : throw new DirectoryNotFoundException($"{path}: expected data folder is missing");
    }
}
