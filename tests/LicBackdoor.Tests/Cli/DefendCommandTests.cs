using LicBackdoor.Backdoor.Defenses;
using LicBackdoor.Tests.Backdoor;

namespace LicBackdoor.Tests.Cli;

/// <summary><c>licb defend</c> on the tiny attack run.</summary>
[Collection(TinyAttackRunCollection.Name)]
public sealed class DefendCommandTests(TinyAttackRun tiny) : TorchTest
{
    [Fact]
    public void DefendWritesTheTableIntoTheRunFolder()
    {
        var r = CliRunner.Run("defend", "--run", tiny.Output, "--defense", "blur:0.5", "--defense", "squeeze:3", "--amplify", "3",
                              "--eval-folder", tiny.Images, "--eval-images", "1");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var json = Path.Combine(tiny.RunDir, "defense-x3.json");
        var md = Path.Combine(tiny.RunDir, "defense-x3.md");
        try
        {
            var result = DefenseEvaluationResult.FromJson(File.ReadAllText(json));
            Assert.Equal(new[] { "none", "blur:0.5", "squeeze:3" }, result.Defenses);   // "none" added as the reference
            Assert.Equal(3.0, result.Amplification);
            Assert.Single(result.Images);
            Assert.Contains("| none | blur:0.5 | squeeze:3 |", File.ReadAllText(md));
        }
        finally
        {
            File.Delete(json);
            File.Delete(md);
        }
    }

    [Fact]
    public void DefendRejectsAnUnknownDefenceWithOneLine()
    {
        var r = CliRunner.Run("defend", "--run", tiny.Output, "--defense", "jpeg:50", "--eval-folder", tiny.Images);
        Assert.Equal(1, r.Code);
        Assert.Contains("unknown defence 'jpeg:50'", r.Err);
    }
}
