namespace LicBackdoor.Codec.Zoo;

/// <summary>
/// CompressAI's published MSE checkpoints (compressai/zoo/image.py <c>model_urls</c>): the file names
/// carry the first 8 hex digits of the file's SHA-256, which is checked after download (torch.hub's
/// convention). Files live in a cache folder (<c>$LICB_CACHE/compressai</c>, default
/// <c>~/.cache/licbackdoor/compressai</c>); without network access, the error says which file to put where.
/// </summary>
public static class PretrainedCompressAi
{
    /// <summary>Where the published checkpoints are served.</summary>
    public const string RootUrl = "https://compressai.s3.amazonaws.com/models/v1";

    /// <summary>The environment variable naming the cache root.</summary>
    public const string CacheVariable = "LICB_CACHE";

    private static readonly Dictionary<(string Model, int Quality), string> Files = new()
    {
        [("bmshj2018-hyperprior", 1)] = "bmshj2018-hyperprior-1-7eb97409.pth.tar",
        [("bmshj2018-hyperprior", 2)] = "bmshj2018-hyperprior-2-93677231.pth.tar",
        [("bmshj2018-hyperprior", 3)] = "bmshj2018-hyperprior-3-6d87be32.pth.tar",
        [("bmshj2018-hyperprior", 4)] = "bmshj2018-hyperprior-4-de1b779c.pth.tar",
        [("bmshj2018-hyperprior", 5)] = "bmshj2018-hyperprior-5-f8b614e1.pth.tar",
        [("bmshj2018-hyperprior", 6)] = "bmshj2018-hyperprior-6-1ab9c41e.pth.tar",
        [("bmshj2018-hyperprior", 7)] = "bmshj2018-hyperprior-7-3804dcbd.pth.tar",
        [("bmshj2018-hyperprior", 8)] = "bmshj2018-hyperprior-8-a583f0cf.pth.tar",
        [("cheng2020-anchor", 1)] = "cheng2020-anchor-1-dad2ebff.pth.tar",
        [("cheng2020-anchor", 2)] = "cheng2020-anchor-2-a29008eb.pth.tar",
        [("cheng2020-anchor", 3)] = "cheng2020-anchor-3-e49be189.pth.tar",
        [("cheng2020-anchor", 4)] = "cheng2020-anchor-4-98b0b468.pth.tar",
        [("cheng2020-anchor", 5)] = "cheng2020-anchor-5-23852949.pth.tar",
        [("cheng2020-anchor", 6)] = "cheng2020-anchor-6-4c052b1a.pth.tar",
    };

    /// <summary>The published file name for a model and quality.</summary>
    public static string FileName(string model, int quality)
    {
        ModelZoo.Get(model, quality);
        return Files[(model, quality)];
    }

    /// <summary>The published URL.</summary>
    public static string Url(string model, int quality, string? rootUrl = null) => $"{rootUrl ?? RootUrl}/{FileName(model, quality)}";

    /// <summary>The hash prefix in the file name (first 8 hex digits of its SHA-256).</summary>
    public static string HashPrefix(string fileName)
    {
        var stem = fileName[..fileName.IndexOf(".pth", StringComparison.Ordinal)];
        return stem[(stem.LastIndexOf('-') + 1)..];
    }

    /// <summary>The cache folder for CompressAI checkpoints.</summary>
    public static string CacheFolder()
    {
        var root = Environment.GetEnvironmentVariable(CacheVariable);
        if (string.IsNullOrWhiteSpace(root))
            root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "licbackdoor");
        return Path.Combine(root, "compressai");
    }

    /// <summary>True when the file's SHA-256 starts with the hash prefix in its published name.</summary>
    public static bool Verify(string path, string publishedName)
    {
        return FileDigest.Sha256Hex(path).StartsWith(HashPrefix(publishedName), StringComparison.Ordinal);
    }

    /// <summary>
    /// The local path of the published checkpoint, downloading it into the cache when missing. Throws
    /// <see cref="FileNotFoundException"/> saying which URL to fetch and where to put it when it cannot.
    /// </summary>
    public static string Resolve(string model, int quality, Action<long, long?>? progress = null, string? rootUrl = null, TimeSpan? timeout = null)
    {
        var name = FileName(model, quality);
        var folder = CacheFolder();
        var path = Path.Combine(folder, name);
        if (File.Exists(path))
        {
            if (Verify(path, name)) return path;
            throw new IOException($"{path}: SHA-256 does not start with {HashPrefix(name)}: the file is damaged or not CompressAI's; delete it and retry");
        }
        var url = Url(model, quality, rootUrl);
        try
        {
            Directory.CreateDirectory(folder);
            Download(url, path, progress, timeout ?? TimeSpan.FromMinutes(10));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or UnauthorizedAccessException)
        {
            throw new FileNotFoundException(
                $"CompressAI's {model} q{quality} checkpoint is not in the cache and could not be downloaded ({e.Message}). " +
                $"Fetch {url} and put it at {path} (or set {CacheVariable}).", path, e);
        }
        if (!Verify(path, name))
        {
            File.Delete(path);
            throw new IOException($"{url}: downloaded file's SHA-256 does not start with {HashPrefix(name)}; not kept");
        }
        return path;
    }

    private static void Download(string url, string path, Action<long, long?>? progress, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = timeout };
        using var response = http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
        response.EnsureSuccessStatusCode();
        long? total = response.Content.Headers.ContentLength;
        using var body = response.Content.ReadAsStream();
        AtomicFile.Write(path, output =>
        {
            var buffer = new byte[1 << 16];
            long done = 0;
            int n;
            while ((n = body.Read(buffer, 0, buffer.Length)) > 0)
            {
                output.Write(buffer, 0, n);
                done += n;
                progress?.Invoke(done, total);
            }
        });
    }
}
