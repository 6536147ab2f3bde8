using Spectre.Console;

namespace LicBackdoor.Tests.Cli;

/// <summary>Runs <c>licb</c> in-process with captured standard output and error.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o); Console.SetError(e);
        // Spectre's static console keeps the writer it was created with: give each run its own.
        var oldAnsi = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(o), Ansi = AnsiSupport.No });
        try { return (LicBackdoor.Cli.Cli.Run(args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); AnsiConsole.Console = oldAnsi; }
    }
}
