using System.CommandLine;
using LicBackdoor.Weights;
using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary><c>licb weights inspect FILE</c> and <c>licb weights convert IN OUT.safetensors</c>.</summary>
internal static class WeightsCommand
{
    public static Command Build(Func<ParseResult, Func<int>, int> guard)
    {
        var file = new Argument<string>("file") { Description = "PyTorch checkpoint (zip or legacy), safetensors file or TF.js manifest" };
        var inspect = new Command("inspect", "list the tensors of a weights file (name, dtype, shape)") { file };
        inspect.SetAction(p => guard(p, () =>
        {
            var path = p.GetValue(file)!;
            var (format, tensors) = WeightsFile.Load(path);
            try
            {
                var table = new Table().Title(Markup.Escape($"{Path.GetFileName(path)} ({format}, {tensors.Count} tensors)")).AddColumns("name", "dtype", "shape", "elements");
                long total = 0;
                foreach (var (name, t) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    table.AddRow(Markup.Escape(name), t.dtype.ToString(), Markup.Escape($"[{string.Join(", ", t.shape)}]"), t.numel().ToString("N0"));
                    total += t.numel();
                }
                Terminal.Current().Write(table);
                Console.WriteLine($"{tensors.Count} tensors, {total:N0} elements");
            }
            finally { foreach (var t in tensors.Values) t.Dispose(); }
            return 0;
        }));

        var input = new Argument<string>("input") { Description = "weights file to convert" };
        var output = new Argument<string>("output") { Description = "safetensors file to write" };
        var compressAi = new Option<bool>("--compressai-keys") { Description = "map CompressAI's legacy key names (module., downsample, _matrix{i}, …) to the current ones" };
        var stateDictOnly = new Option<bool>("--state-dict") { Description = "for PyTorch checkpoints: keep only the state dict (its keys without the 'state_dict.' prefix)" };
        var half = new Option<bool>("--half") { Description = "store layer weights and biases (and GDN beta/gamma, and the context model's 0/1 mask) as float16; entropy-model parameters and the other buffers stay float32" };
        var dropTables = new Option<bool>("--drop-tables") { Description = "leave out derived buffers, rebuilt bit-exactly on load: the Gaussian conditional's CDF tables (from its scale table; 2.4 MB for a 192-level table) and cheng2020-anchor's context-model mask (a fixed pattern of the kernel's shape)" };
        var int8 = new Option<bool>("--int8") { Description = "store convolution kernels as int8 with one float32 scale per output channel (a quarter of float32; loads as the float model with weights q·scale; biases, GDN and entropy models untouched)" };
        var convert = new Command("convert", "convert any supported weights file to safetensors") { input, output, compressAi, stateDictOnly, half, dropTables, int8 };
        convert.SetAction(p => guard(p, () =>
        {
            var path = p.GetValue(input)!;
            Dictionary<string, TorchSharp.torch.Tensor> tensors;
            Dictionary<string, string> meta;
            if (p.GetValue(stateDictOnly) && TorchCheckpoint.IsTorchCheckpoint(path)) (tensors, meta) = (TorchCheckpoint.LoadStateDict(path), new Dictionary<string, string>());
            else (_, tensors, meta) = WeightsFile.LoadWithMetadata(path);
            try
            {
                var result = p.GetValue(compressAi) ? CompressAiKeys.Remap(tensors, path) : tensors;
                if (p.GetValue(int8)) result = Int8Weights.Quantize(result);
                if (p.GetValue(half)) result = WeightsFile.HalveLayerWeights(result);
                if (p.GetValue(dropTables)) result = WeightsFile.DropGaussianTables(result);
                meta.TryAdd("licb.source", Path.GetFileName(path)); // a converted conversion keeps the first source
                Safetensors.Save(p.GetValue(output)!, result, meta);
                Console.WriteLine($"{p.GetValue(output)}: {result.Count} tensors");
            }
            finally { foreach (var t in tensors.Values) t.Dispose(); }
            return 0;
        }));
        return new Command("weights", "inspect and convert weight files") { inspect, convert };
    }
}
