namespace LicBackdoor.Codec.Bitstream;

/// <summary>
/// Thrown when a compressed stream cannot be decoded: it is truncated, too short, has trailing data,
/// encodes a value outside the representable range, or is otherwise inconsistent with the entropy model.
/// </summary>
/// <remarks>
/// The rANS layer has no checksum of its own, so not every corruption is detected there: a damaged
/// stream may also decode to wrong symbols. The container format that wraps the streams carries a
/// checksum for that purpose. Decoding never hangs or reads out of bounds, whatever the input.
/// </remarks>
public class InvalidBitstreamException : Exception
{
    /// <summary>Creates the exception; <paramref name="fileName"/>, when given, is appended to the message.</summary>
    public InvalidBitstreamException(string message, string? fileName = null, Exception? inner = null)
        : base(fileName is null ? message : $"{message} (file: {fileName})", inner)
    {
        FileName = fileName;
    }

    /// <summary>The file the stream came from, when known.</summary>
    public string? FileName { get; }
}
