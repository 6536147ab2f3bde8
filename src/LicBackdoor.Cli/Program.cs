using LicBackdoor.Runtime;
using TorchSharp;
NativeSetup.Initialize();
var x = torch.ones(2, 3);
Console.WriteLine($"{x.sum().item<float>()} tuned={NativeSetup.AllocatorTuned}");
