namespace LicBackdoor.Bench;

/// <summary>Benchmark dispatcher: <c>dotnet run -c Release --project bench/LicBackdoor.Bench -- NAME [options]</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.WriteLine("benchmarks: codec");
            return 2;
        }
        return args[0] switch
        {
            "codec" => CodecTiming.Run(args[1..]),
            _ => Unknown(args[0]),
        };
    }

    private static int Unknown(string name)
    {
        Console.Error.WriteLine($"unknown benchmark '{name}'");
        return 2;
    }
}
