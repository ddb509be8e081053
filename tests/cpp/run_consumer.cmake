# run_consumer.cmake: the ctest cpp_install.find_package (see CMakeLists.txt here).
#
#   cmake -DBUILD_DIR=<cosock build> -DCONFIG=<cfg> -DSOURCE_DIR=<consumer/>
#         -DWORK_DIR=<scratch> -DCMAKE_GENERATOR=... -DCMAKE_CXX_COMPILER=...
#         [-DCMAKE_TOOLCHAIN_FILE=...] [-DCMAKE_BUILD_TYPE=...] [-DCOSOCK_CLANG_CL_SDK=...]
#         [-DCOSOCK_SANITIZE=...] [-DRUNNER=<wine-run.sh>|<setarch|x86_64|-R>]
#         -P run_consumer.cmake
#
# 1. cmake --install BUILD_DIR into WORK_DIR/prefix (a fresh one each run)
# 2. configure SOURCE_DIR with the same toolchain and -Dcosock_DIR=<prefix>/lib/cmake/cosock
# 3. build it, 4. run it (through RUNNER if given: its items separated by '|')
# Prints "cpp_install: consumer of the installed package built and ran", or
# "cpp_install: FAILED: <step>" with that step's output.
cmake_minimum_required(VERSION 3.25)

function(step name)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        message("${out}")
        message(FATAL_ERROR "cpp_install: FAILED: ${name} (exit ${rc})")
    endif()
    set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")

set(config_args "")
if(CONFIG)
    set(config_args --config "${CONFIG}")
endif()
step(install ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" ${config_args})

# find_package looks in the prefix's lib/ or lib64/, as GNUInstallDirs chose.
file(GLOB_RECURSE config_file "${prefix}/*/cosock-config.cmake")
if(NOT config_file)
    message(FATAL_ERROR "cpp_install: FAILED: no cosock-config.cmake under ${prefix}")
endif()
get_filename_component(cosock_dir "${config_file}" DIRECTORY)

set(configure_args -S "${SOURCE_DIR}" -B "${build}" -G "${CMAKE_GENERATOR}"
    "-Dcosock_DIR=${cosock_dir}" "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}")
foreach(var CMAKE_TOOLCHAIN_FILE CMAKE_BUILD_TYPE COSOCK_CLANG_CL_SDK COSOCK_SANITIZE)
    if(${var})
        list(APPEND configure_args "-D${var}=${${var}}")
    endif()
endforeach()
step(configure ${CMAKE_COMMAND} ${configure_args})
step(build ${CMAKE_COMMAND} --build "${build}" ${config_args})

file(GLOB_RECURSE exe "${build}/consumer" "${build}/consumer.exe")
list(FILTER exe EXCLUDE REGEX "/CMakeFiles/")
if(NOT exe)
    message(FATAL_ERROR "cpp_install: FAILED: the consumer program was not built")
endif()
list(GET exe 0 exe)
string(REPLACE "|" ";" runner "${RUNNER}")
step(run ${runner} "${exe}")
message("${step_output}")
if(NOT step_output MATCHES "consumer: task ran 3 steps")
    message(FATAL_ERROR "cpp_install: FAILED: the consumer printed no success line")
endif()
message("cpp_install: consumer of the installed package built and ran (${exe})")
