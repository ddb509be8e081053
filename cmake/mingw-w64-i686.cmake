# Cross-compile for 32-bit Windows with Debian's mingw-w64 gcc. COMPILE ONLY: this Wine is
# 64-bit only, and a 32-bit exe under it prints nothing and exits 0 (a silent false pass),
# so no emulator is set and the mingw-x86 preset registers no tests. What it proves is that
# the 32-bit calling conventions (CALLBACK/WINAPI on thread-pool callbacks) are right.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86)

set(CMAKE_C_COMPILER i686-w64-mingw32-gcc)
# C++ (tests/cpp/ only, enabled there if this program exists: g++-mingw-w64-i686, which
# .ci/setup does not install). Named so that the host's g++ is never picked instead.
set(CMAKE_CXX_COMPILER i686-w64-mingw32-g++)
set(CMAKE_RC_COMPILER i686-w64-mingw32-windres)

set(CMAKE_FIND_ROOT_PATH /usr/i686-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
