using LicBackdoor.Backdoor;
using static LicBackdoor.Tests.Backdoor.Triggers.TriggerTestHelpers;
using static TorchSharp.torch;

namespace LicBackdoor.Tests.Backdoor.Triggers;

public sealed class FrequencyTriggerTrainingTests : TorchTest
{
    [Fact]
    public void AFewStepsOnTheStealthPenaltyShrinkAnOversizedTrigger()
    {
        var trigger = TinyFrequency();
        using (no_grad())
        {
            Parameter(trigger, "general.value_head.bias").fill_(2000);  // far above the budget
            Parameter(trigger, "weight.head.bias").fill_(1);
        }
        var x = SyntheticImages.Smooth(32, 48, batch: 2);
        var penalty = new StealthPenalty();
        var optimizer = optim.Adam(trigger.parameters(), lr: 1e-2);
        var losses = new List<float>();
        for (int step = 0; step < 6; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = penalty.Compute(x, trigger.forward(x));
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }
        Assert.True(losses[0] > 10 * penalty.Gamma * penalty.Budget, $"start {losses[0]}");
        Assert.True(losses[^1] < 0.8 * losses[0], string.Join(", ", losses));
    }
}
