using System.Security.Cryptography;

namespace LicBackdoor;

/// <summary>Content digests of files, for checks that must not depend on where a file lives.</summary>
public static class FileDigest
{
    /// <summary>Lowercase hex SHA-256 of the file's bytes (streamed, not loaded whole).</summary>
    public static string Sha256Hex(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> are the same path or two existing files with the same bytes.</summary>
    public static bool SameContent(string? a, string? b)
    {
        if (a == b) return true;
        if (a is null || b is null || !File.Exists(a) || !File.Exists(b) || new FileInfo(a).Length != new FileInfo(b).Length) return false;
        return File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b));
    }
}
