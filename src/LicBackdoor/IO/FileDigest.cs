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
}
