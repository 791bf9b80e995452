/* Test-only stand-in for Windows' bcryptprimitives.dll, which Wine 8.0 lacks. Programs built by
 * Rust >= 1.78 import ProcessPrng from it for their random seeds and fail to start without it.
 * Built with mingw-w64 and placed beside the test executable; never shipped. */
#include <windows.h>

/* advapi32's RtlGenRandom. */
BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
