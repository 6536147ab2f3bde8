namespace LicBackdoor;

/// <summary>
/// Writes files so that a reader never sees a half-written file: the content goes to a temporary file
/// in the destination folder, which is then renamed over the destination. On failure the temporary
/// file is removed and the destination is untouched.
/// </summary>
public static class AtomicFile
{
    /// <summary>Atomically replaces <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Atomically replaces <paramref name="path"/> with the text.</summary>
    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    private const string TempSuffix = ".tmp";

    /// <summary>True for the temporary names <see cref="Write"/> uses (<c>.NAME.xxxxxxxx.tmp</c>).</summary>
    public static bool IsTemporary(string path)
    {
        var name = Path.GetFileName(path);
        return name.Length > 14 && name[0] == '.' && name.EndsWith(TempSuffix, StringComparison.Ordinal)
               && name[^(TempSuffix.Length + 9)] == '.' && name.AsSpan(name.Length - TempSuffix.Length - 8, 8).IndexOfAnyExcept("0123456789abcdef") < 0;
    }

    /// <summary>
    /// Deletes the temporary files a killed writer left in <paramref name="dir"/> (never the files they were to replace,
    /// which are untouched). Resumable runs call this when they reopen their folder. Returns how many were removed.
    /// </summary>
    public static int RemoveStaleTemporaries(string dir)
    {
        if (!Directory.Exists(dir)) return 0;
        int n = 0;
        foreach (var f in Directory.EnumerateFiles(dir, ".*" + TempSuffix).Where(IsTemporary))
        {
            try { File.Delete(f); n++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return n;
    }

    /// <summary>Atomically replaces <paramref name="path"/> with whatever <paramref name="write"/> puts in the stream.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{path}: folder '{dir}' does not exist");
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..8] + TempSuffix);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }
}
