namespace LicBackdoor.Imaging;

/// <summary>
/// An image file or buffer could not be decoded: empty, truncated, corrupt, of an unsupported format or
/// of refused (too large) dimensions. The message always names the file (or the caller's label for an
/// in-memory buffer) and the problem.
/// </summary>
public sealed class ImageFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="fileName"/> (a path or label) and a problem description.</summary>
    public ImageFormatException(string fileName, string problem, Exception? inner = null)
        : base($"{fileName}: {problem}", inner)
    {
        FileName = fileName;
        Problem = problem;
    }

    /// <summary>The file path, or the label given for an in-memory buffer.</summary>
    public string FileName { get; }

    /// <summary>The problem, without the file name.</summary>
    public string Problem { get; }
}
