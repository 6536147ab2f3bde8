namespace LicBackdoor.Weights;

/// <summary>A weights file is missing, malformed, hostile or does not fit the model; the message names the file.</summary>
public sealed class CheckpointFormatException : Exception
{
    public CheckpointFormatException(string message, string? fileName = null, Exception? inner = null)
        : base(message, inner) => FileName = fileName;

    /// <summary>The file concerned, when known.</summary>
    public string? FileName { get; }
}
