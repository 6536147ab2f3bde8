using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary>How the training verbs show a run: a line every K steps (and at each validation) when the output is not a terminal, a progress bar otherwise.</summary>
internal static class TrainingProgress
{
    /// <summary>Runs <paramref name="run"/> (a trainer's Run with its per-step callback) with the run's step reporting.</summary>
    public static void Run<TStep>(Action<Action<TStep>> run, Func<TStep, long> stepOf, Func<TStep, bool> isValidation, int every,
                                  Func<TStep, string> line, Func<TStep, string> barDescription)
    {
        if (Console.IsOutputRedirected)
        {
            run(s => { if (stepOf(s) % every == 0 || isValidation(s)) Console.WriteLine(line(s)); });
            return;
        }
        Terminal.Current().Progress().Start(ctx =>
        {
            var task = ctx.AddTask("training");
            run(s =>
            {
                long step = stepOf(s);
                task.MaxValue = Math.Max(task.MaxValue, step + 1);
                task.Value = step;
                task.Description = barDescription(s);
            });
        });
    }
}
