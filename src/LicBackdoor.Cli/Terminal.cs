using Spectre.Console;

namespace LicBackdoor.Cli;

/// <summary>
/// A Spectre console over the current <see cref="Console.Out"/>. The static <c>AnsiConsole</c> keeps the
/// writer it first saw, which breaks output redirection (tests, embedding). When the output is not a
/// terminal, tables get a fixed width of 160 columns so they are not squeezed.
/// </summary>
internal static class Terminal
{
    public static IAnsiConsole Current()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        if (Console.IsOutputRedirected) console.Profile.Width = 160;
        return console;
    }
}
