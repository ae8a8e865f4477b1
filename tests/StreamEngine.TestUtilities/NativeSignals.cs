using System.Runtime.InteropServices;

namespace StreamEngine.TestUtilities;

internal static partial class NativeSignals
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);
}
