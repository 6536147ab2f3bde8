using LicBackdoor.Cli;
using LicBackdoor.Runtime;

NativeSetup.Initialize();
return Cli.Run(args);
