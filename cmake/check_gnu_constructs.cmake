# check_gnu_constructs.cmake: fail when C code uses GNU-only constructs that cl.exe rejects
# but our compilers here (gcc, clang-cl with /W4 -Werror=gnu) let through.
#
#   cmake -DROOT=<repo> [-DDIRS=co,sock,examples] -P cmake/check_gnu_constructs.cmake
#
# Scans every *.c and *.h under the given folders (comma separated, relative to ROOT).
# Flagged, in code (comments and string literals are ignored):
#   __typeof__ / __typeof / typeof(      __attribute__ / __attribute
#   ({ ... })  statement expressions     goto *p  (labels as values)
#   case __LINE__  (resume points from __LINE__: two on one line collide, and MSVC /ZI
#                   makes __LINE__ non-constant, error C2051; use __COUNTER__)
#   __builtin_*    __extension__
#
# Allowed where a compiler guard makes it invisible to MSVC:
#   - lines inside the branch of an #if / #ifdef / #elif whose condition names __GNUC__ or
#     __clang__ (without a `!` in front), up to its #else / #elif / #endif;
#   - a single line carrying the marker comment `gnu-guarded` (for a one-line exception;
#     say why next to it).
# Prints "guard: no GNU-only construct in N files" or lists each hit as file:line and
# ends with "guard: FAILED: N GNU-only constructs in M files" (exit status 1).
cmake_minimum_required(VERSION 3.25)

if(NOT ROOT)
    get_filename_component(ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
endif()
if(NOT DEFINED DIRS)
    set(DIRS "co,sock,examples")
endif()
string(REPLACE "," ";" DIRS "${DIRS}")

set(rules
    "__typeof__|__typeof([^A-Za-z0-9_]|$)|(^|[^A-Za-z0-9_])typeof[ \t]*\\(" "__typeof__"
    "__attribute__|__attribute([^A-Za-z0-9_]|$)" "__attribute__"
    "\\([ \t]*{" "statement expression ({ })"
    "goto[ \t]*\\*" "labels as values (goto *)"
    "case[ \t(]*__LINE__" "case __LINE__ (use __COUNTER__)"
    "__builtin_" "__builtin_*"
    "__extension__" "__extension__")

set(files "")
foreach(dir IN LISTS DIRS)
    file(GLOB_RECURSE found "${ROOT}/${dir}/*.c" "${ROOT}/${dir}/*.h")
    list(APPEND files ${found})
endforeach()
list(SORT files)

set(hits 0)
set(bad_files "")
foreach(path IN LISTS files)
    file(RELATIVE_PATH rel "${ROOT}" "${path}")
    file(READ "${path}" text)
    # Make the text a CMake list of lines: protect the list separator and brackets first.
    string(REPLACE ";" "<SEMI>" text "${text}")
    string(REPLACE "[" "<LB>" text "${text}")
    string(REPLACE "]" "<RB>" text "${text}")
    string(REPLACE "\\\n" "<BSNL>;" text "${text}")   # keep line numbers on continuations
    string(REPLACE "\n" ";" text "${text}")
    set(lineno 0)
    set(in_comment FALSE)
    set(stack "")   # one entry per open #if: 1 = GNU-guarded branch, 0 = not
    foreach(line IN LISTS text)
        math(EXPR lineno "${lineno} + 1")
        # Strip character and string literals, then comments (tracking /* */ across lines).
        string(REGEX REPLACE "'([^'\\\\]|\\\\.)*'" "''" code "${line}")
        string(REGEX REPLACE "\"([^\"\\\\]|\\\\.)*\"" "\"\"" code "${code}")
        set(rest "${code}")
        set(code "")
        while(NOT rest STREQUAL "")
            if(in_comment)
                string(FIND "${rest}" "*/" end)
                if(end EQUAL -1)
                    set(rest "")
                else()
                    math(EXPR end "${end} + 2")
                    string(SUBSTRING "${rest}" ${end} -1 rest)
                    set(in_comment FALSE)
                endif()
            else()
                string(FIND "${rest}" "/*" block)
                string(FIND "${rest}" "//" slash)
                if(slash GREATER -1 AND (block EQUAL -1 OR slash LESS block))
                    string(SUBSTRING "${rest}" 0 ${slash} part)
                    string(APPEND code "${part}")
                    set(rest "")
                elseif(block GREATER -1)
                    string(SUBSTRING "${rest}" 0 ${block} part)
                    string(APPEND code "${part} ")
                    math(EXPR block "${block} + 2")
                    string(SUBSTRING "${rest}" ${block} -1 rest)
                    set(in_comment TRUE)
                else()
                    string(APPEND code "${rest}")
                    set(rest "")
                endif()
            endif()
        endwhile()

        # Conditional compilation: which open branches are GNU-guarded?
        if(code MATCHES "^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)([^A-Za-z0-9_].*)?$")
            set(directive "${CMAKE_MATCH_1}")
            set(cond "${CMAKE_MATCH_2}")
            set(guarded 0)
            if(directive MATCHES "^(if|ifdef|elif)$" AND cond MATCHES "__GNUC__|__clang__"
               AND NOT cond MATCHES "!")
                set(guarded 1)
            endif()
            if(directive MATCHES "^if")
                list(APPEND stack ${guarded})
            elseif(stack)
                list(POP_BACK stack)
                if(NOT directive STREQUAL "endif")
                    list(APPEND stack ${guarded})
                endif()
            endif()
            continue()
        endif()
        if("1" IN_LIST stack OR line MATCHES "gnu-guarded")
            continue()
        endif()

        set(i 0)
        list(LENGTH rules nrules)
        while(i LESS nrules)
            list(GET rules ${i} regex)
            math(EXPR j "${i} + 1")
            list(GET rules ${j} label)
            math(EXPR i "${i} + 2")
            if(code MATCHES "${regex}")
                string(REPLACE "<SEMI>" ";" shown "${line}")
                string(REPLACE "<LB>" "[" shown "${shown}")
                string(REPLACE "<RB>" "]" shown "${shown}")
                string(REPLACE "<BSNL>" "\\" shown "${shown}")
                string(STRIP "${shown}" shown)
                message("${rel}:${lineno}: ${label} outside a compiler-guarded block: ${shown}")
                math(EXPR hits "${hits} + 1")
                list(APPEND bad_files "${rel}")
            endif()
        endwhile()
    endforeach()
endforeach()

list(LENGTH files nfiles)
list(REMOVE_DUPLICATES bad_files)
list(LENGTH bad_files nbad)
if(hits GREATER 0)
    message("guard: see cmake/check_gnu_constructs.cmake: put such code inside "
            "#if defined(__GNUC__) ... #endif with a portable #else")
    message(FATAL_ERROR "guard: FAILED: ${hits} GNU-only constructs in ${nbad} files")
endif()
message("guard: no GNU-only construct in ${nfiles} files")
