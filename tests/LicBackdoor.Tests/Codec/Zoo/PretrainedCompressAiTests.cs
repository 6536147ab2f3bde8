using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using LicBackdoor.Codec.Zoo;

namespace LicBackdoor.Tests.Codec.Zoo;

/// <summary>The published-checkpoint cache, exercised against a server on the loopback interface only.</summary>
public sealed class PretrainedCompressAiTests : IDisposable
{
    private readonly string cache = Directory.CreateTempSubdirectory("licb-cache-").FullName;
    private readonly string? oldCache = Environment.GetEnvironmentVariable(PretrainedCompressAi.CacheVariable);

    public PretrainedCompressAiTests() => Environment.SetEnvironmentVariable(PretrainedCompressAi.CacheVariable, cache);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(PretrainedCompressAi.CacheVariable, oldCache);
        Directory.Delete(cache, recursive: true);
    }

    [Fact]
    public void NamesUrlsAndHashPrefixes()
    {
        Assert.Equal("bmshj2018-hyperprior-3-6d87be32.pth.tar", PretrainedCompressAi.FileName("bmshj2018-hyperprior", 3));
        Assert.Equal("https://compressai.s3.amazonaws.com/models/v1/cheng2020-anchor-6-4c052b1a.pth.tar", PretrainedCompressAi.Url("cheng2020-anchor", 6));
        Assert.Equal("6d87be32", PretrainedCompressAi.HashPrefix("bmshj2018-hyperprior-3-6d87be32.pth.tar"));
        Assert.Throws<ArgumentException>(() => PretrainedCompressAi.FileName("cheng2020-anchor", 7));
    }

    [Fact]
    public void OfflineErrorSaysWhichFileToPutWhere()
    {
        int port = FreePort(); // nothing listens there
        var e = Assert.Throws<FileNotFoundException>(() =>
            PretrainedCompressAi.Resolve("bmshj2018-hyperprior", 2, rootUrl: $"http://127.0.0.1:{port}", timeout: TimeSpan.FromSeconds(5)));
        Assert.Contains("bmshj2018-hyperprior-2-93677231.pth.tar", e.Message);
        Assert.Contains(Path.Combine(cache, "compressai"), e.Message);
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "compressai")));
    }

    [Fact]
    public async Task DownloadsIntoTheCacheAndChecksTheHash()
    {
        // Serve a body whose SHA-256 does not match the published prefix: it must be refused and not kept.
        var body = new byte[] { 1, 2, 3, 4 };
        int port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var server = Task.Run(async () =>
        {
            var ctx = await listener.GetContextAsync();
            ctx.Response.ContentLength64 = body.Length;
            await ctx.Response.OutputStream.WriteAsync(body);
            ctx.Response.Close();
        });
        long seen = 0;
        var e = Assert.Throws<IOException>(() => PretrainedCompressAi.Resolve("cheng2020-anchor", 1, (done, _) => seen = done, $"http://127.0.0.1:{port}", TimeSpan.FromSeconds(10)));
        Assert.Contains("dad2ebff", e.Message);
        Assert.Equal(body.Length, seen);
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "compressai")));
        await server.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(Convert.ToHexStringLower(SHA256.HashData(body)).StartsWith("dad2ebff", StringComparison.Ordinal));
    }

    [Fact]
    public void ADamagedCachedFileIsReported()
    {
        var dir = Directory.CreateDirectory(Path.Combine(cache, "compressai")).FullName;
        File.WriteAllBytes(Path.Combine(dir, "cheng2020-anchor-1-dad2ebff.pth.tar"), new byte[] { 0 });
        var e = Assert.Throws<IOException>(() => PretrainedCompressAi.Resolve("cheng2020-anchor", 1));
        Assert.Contains("damaged", e.Message);
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
