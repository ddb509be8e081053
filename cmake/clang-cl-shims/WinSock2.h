/* Case shim for clang-cl on Linux (see cmake/clang-cl-wine.cmake). */
#include <winsock2.h>
