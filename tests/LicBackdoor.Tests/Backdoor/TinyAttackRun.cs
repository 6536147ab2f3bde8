using LicBackdoor.Backdoor;
using LicBackdoor.Imaging;
using LicBackdoor.Runtime;

namespace LicBackdoor.Tests.Backdoor;

/// <summary>
/// A finished attack run, trained once for all tests that use it (2 steps on 64x64 crops of 3 synthetic images, tiny
/// frequency triggers for the bpp and psnr objectives, hyperprior q1), laid out like a <c>licb attack</c> output:
/// <c>Output/frequency-q1</c>. <see cref="Images"/> holds two small evaluation images of different sizes.
/// </summary>
public sealed class TinyAttackRun : IDisposable
{
    public TinyAttackRun()
    {
        NativeSetup.Initialize();
        Root = Directory.CreateTempSubdirectory("licb-attack-").FullName;
        var data = Directory.CreateDirectory(Path.Combine(Root, "train")).FullName;
        for (int i = 0; i < 3; i++) ImageFile.SavePng(SyntheticImages.Smooth(64, 64, seed: 10 + i), Path.Combine(data, $"t{i}.png"));
        Images = Directory.CreateDirectory(Path.Combine(Root, "eval")).FullName;
        ImageFile.SavePng(SyntheticImages.Smooth(48, 64, seed: 3), Path.Combine(Images, "a.png"));
        ImageFile.SavePng(SyntheticImages.Smooth(64, 80, seed: 4), Path.Combine(Images, "b.png"));
        Output = Directory.CreateDirectory(Path.Combine(Root, "attack")).FullName;
        RunDir = Path.Combine(Output, "frequency-q1");
        TrainData = data;
        var options = new AttackOptions
        {
            Model = "bmshj2018-hyperprior", Quality = 1, Objectives = ["bpp", "psnr"],
            Trigger = new TriggerSpec(TriggerSpec.Frequency, 0.125), DataFolders = [data], Steps = 2, Batch = 1, Crop = 64,
        };
        using var trainer = BackdoorTrainer.Start(options, RunDir);
        if (!trainer.Run()) throw new InvalidOperationException("the tiny attack run did not finish");
    }

    /// <summary>The temporary folder holding everything.</summary>
    public string Root { get; }

    /// <summary>The attack output folder (holds <see cref="RunDir"/>).</summary>
    public string Output { get; }

    /// <summary>The finished run folder.</summary>
    public string RunDir { get; }

    /// <summary>Two evaluation images, 64x48 and 80x64.</summary>
    public string Images { get; }

    /// <summary>The three 64x64 training images.</summary>
    public string TrainData { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>Test classes that share one <see cref="TinyAttackRun"/>.</summary>
[CollectionDefinition(Name)]
public sealed class TinyAttackRunCollection : ICollectionFixture<TinyAttackRun>
{
    public const string Name = "tiny attack run";
}
