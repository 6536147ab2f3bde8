using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LicBackdoor.Codec.Entropy;

namespace LicBackdoor.Bench;

/// <summary>
/// BenchmarkDotNet version of <see cref="RansThroughput"/> on a 1M-symbol stream (in-process toolchain,
/// so no separate build of a generated project is needed). Reports time per symbol and allocations.
/// Not sealed: BenchmarkDotNet rejects sealed benchmark classes.
/// </summary>
[MemoryDiagnoser]
public class RansBenchmarks
{
    private const int Symbols = 1_000_000;
    private int[] _symbols = [];
    private int[] _indexes = [];
    private int[] _decoded = [];
    private byte[] _stream = [];
    private RansEncoder _encoder = new();
    private RansDecoder _decoder = null!;

    /// <summary>Workload, see <see cref="RansWorkloads"/>.</summary>
    [Params("a", "b")]
    public string Workload { get; set; } = "a";

    [GlobalSetup]
    public void Setup()
    {
        (_symbols, _indexes) = RansWorkloads.Generate(Workload, Symbols);
        _encoder = new RansEncoder(Symbols);
        _decoder = new RansDecoder(RansWorkloads.Table);
        _decoded = new int[Symbols];
        _encoder.Encode(_symbols, _indexes, RansWorkloads.Table);
        _stream = _encoder.Flush();
    }

    /// <summary>Buffer 1M symbols and flush them into a stream.</summary>
    [Benchmark(OperationsPerInvoke = Symbols)]
    public byte[] Encode()
    {
        _encoder.Encode(_symbols, _indexes, RansWorkloads.Table);
        return _encoder.Flush();
    }

    /// <summary>Decode the 1M-symbol stream into a preallocated buffer.</summary>
    [Benchmark(OperationsPerInvoke = Symbols)]
    public int Decode()
    {
        _decoder.SetStream(_stream);
        _decoder.DecodeStream(_indexes, _decoded);
        return _decoded[^1];
    }

    public static int Run(string[] args)
    {
        var config = DefaultConfig.Instance
            .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(10))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        BenchmarkSwitcher.FromTypes([typeof(RansBenchmarks)]).Run(args.Length == 0 ? ["--filter", "*"] : args, config);
        return 0;
    }
}
