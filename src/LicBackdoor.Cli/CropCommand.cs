using System.CommandLine;
using LicBackdoor.Imaging;

namespace LicBackdoor.Cli;

/// <summary>
/// <c>licb crop IN OUT --size S</c>: the centre S×S crop of every image of a folder, written as PNGs to another folder,
/// to evaluate a codec (<c>licb eval --images OUT</c>) or an attack (<c>licb attack --eval-folder OUT</c>) at the scale
/// it was trained at.
/// </summary>
internal static class CropCommand
{
    public static Command Build()
    {
        var input = new Argument<string>("input") { Description = "folder of PNG/JPEG images" };
        var output = new Argument<string>("output") { Description = "folder to write the crops to (created if needed; one PNG per image, same base name)" };
        var size = new Option<int>("--size", "-s") { Description = "side of the square centre crop in pixels", Required = true };
        var cmd = new Command("crop", "write the centre crop of every image of a folder (evaluation at the training crops' scale)") { input, output, size };
        cmd.SetAction(p => Cli.Guard(p, () =>
        {
            int s = p.GetValue(size);
            if (s < 1) throw new ArgumentException("--size must be at least 1");
            var written = CentreCrops.WriteFolder(p.GetValue(input)!, p.GetValue(output)!, s);
            Console.WriteLine($"{p.GetValue(output)}: {written.Count} centre crops of {s}x{s}");
            return 0;
        }));
        return cmd;
    }
}
