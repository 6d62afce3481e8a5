# kuai_module(name DEPS ... [NATIVE] [PCH])
#   Builds src/<name>/**/*.cpp into the static library kuai_<name>. A folder with no .cpp yet
#   becomes an INTERFACE library so the dependency graph can be declared before the code exists.
#   NATIVE: the folder holds kernels that dispatch on cpuid; it may compile ISA-specific files
#   (named *_avx2.cpp, *_avx512.cpp, *_amx.cpp) with the matching -m flags. A file of a level may be called only
#   when src/cpu/isa.h reports that level, which checks every feature these flags allow: keep the two
#   lists equal.
#   PCH: precompile the folder's pch.h (Beast and Asio are expensive; see docs/ARCHITECTURE.md).
#   The kuai_<x> entries of DEPS are the only modules src/<name>/ may include (CTest `layers`,
#   cmake/CheckLayers.cmake); list the lower modules it uses and nothing else.
function(kuai_module name)
  cmake_parse_arguments(M "NATIVE;PCH" "" "DEPS" ${ARGN})
  kuai_layer(${name} ${M_DEPS})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  set(target kuai_${name})
  if(srcs)
    add_library(${target} STATIC ${srcs})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${M_DEPS})
    if(M_NATIVE)
      # Each level is the one below plus its own features (cpu/isa.h checks the same lists).
      set(avx2_flags -mavx2 -mfma -mf16c)
      set(avx512_flags ${avx2_flags} -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq)
      set(amx_flags ${avx512_flags} -mamx-tile -mamx-int8)
      foreach(src IN LISTS srcs)
        if(src MATCHES "_amx\\.cpp$")
          set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${amx_flags}")
        elseif(src MATCHES "_avx512\\.cpp$")
          set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${avx512_flags}")
        elseif(src MATCHES "_avx2\\.cpp$")
          set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${avx2_flags}")
        endif()
      endforeach()
    endif()
    if(M_PCH AND EXISTS ${PROJECT_SOURCE_DIR}/src/${name}/pch.h)
      target_precompile_headers(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src/${name}/pch.h)
    endif()
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} INTERFACE ${M_DEPS})
  endif()
endfunction()

# kuai_layer(name deps...): records which modules src/<name>/ may include (the kuai_<x> among deps),
# for kuai_layer_check. kuai_module calls it; the executable's folder (src/app) calls it directly.
function(kuai_layer name)
  set(mods "")
  foreach(d IN LISTS ARGN)
    if(d MATCHES "^kuai_(.+)$")
      list(APPEND mods ${CMAKE_MATCH_1})
    endif()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY KUAI_LAYER_MODULES ${name})
  set_property(GLOBAL PROPERTY KUAI_LAYER_DEPS_${name} "${mods}")
endfunction()

# kuai_layer_check(): the CTest `layers`, which fails on an include outside a module's declared DEPS
# or on a declared module that is never included (cmake/CheckLayers.cmake).
function(kuai_layer_check)
  get_property(modules GLOBAL PROPERTY KUAI_LAYER_MODULES)
  set(text "set(KUAI_LAYER_MODULES ${modules})\n")
  foreach(m IN LISTS modules)
    get_property(deps GLOBAL PROPERTY KUAI_LAYER_DEPS_${m})
    string(APPEND text "set(KUAI_LAYER_DEPS_${m} ${deps})\n")
  endforeach()
  file(WRITE ${PROJECT_BINARY_DIR}/layers.cmake "${text}")
  add_test(NAME layers COMMAND ${CMAKE_COMMAND} -DKUAI_SRC=${PROJECT_SOURCE_DIR}/src
           -DKUAI_LAYERS=${PROJECT_BINARY_DIR}/layers.cmake -P ${PROJECT_SOURCE_DIR}/cmake/CheckLayers.cmake)
endfunction()

# kuai_test_support: tests/support/*.cpp, shared by tests and benchmarks; it knows where the kuai
# binary, ../shared and the source tree are. KUAI_SHARED_DIR overrides where ../shared is (default:
# beside the checkout).
function(kuai_test_support)
  set(KUAI_SHARED_DIR "${PROJECT_SOURCE_DIR}/../shared" CACHE PATH "the shared models and tokenizer vectors")
  get_filename_component(shared "${KUAI_SHARED_DIR}" ABSOLUTE)
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/support/*.cpp)
  add_library(kuai_test_support STATIC ${srcs})
  target_include_directories(kuai_test_support PUBLIC ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(kuai_test_support PRIVATE
    KUAI_TEST_BIN="$<TARGET_FILE:kuai>" KUAI_TEST_SHARED_DIR="${shared}"
    KUAI_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endfunction()

# One GoogleTest executable per folder under tests/ (tests/<folder>/**/*_test.cpp → kuai_<folder>_tests),
# linked against the library of the same name plus everything it needs, and kuai_test_support.
function(kuai_tests)
  file(GLOB dirs LIST_DIRECTORIES true ${PROJECT_SOURCE_DIR}/tests/*)
  foreach(dir IN LISTS dirs)
    if(NOT IS_DIRECTORY ${dir})
      continue()
    endif()
    get_filename_component(name ${dir} NAME)
    if(name STREQUAL "support" OR name STREQUAL "data")
      continue()  # tests/support: kuai_test_support (above); tests/data: fixtures
    endif()
    file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${dir}/*.cpp)
    if(NOT srcs)
      continue()
    endif()
    set(target kuai_${name}_tests)
    add_executable(${target} ${srcs})
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    set(lib kuai_${name})
    if(NOT TARGET ${lib})
      set(lib kuai_server kuai_stages kuai_fakeup kuai_tools)
    endif()
    target_link_libraries(${target} PRIVATE ${lib} kuai_test_support GTest::gtest GTest::gmock GTest::gtest_main)
    # -Werror guards the product code (src/); a warning in a test must not hide its results.
    target_compile_options(${target} PRIVATE -Wno-error)
    add_dependencies(${target} kuai)
    # No ENVIRONMENT here: gtest_discover_tests splits a list-valued property, so only the first
    # variable would arrive (that is how CI once lost KUAI_SHARED). kuai_test_support carries the paths.
    gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
  endforeach()
endfunction()

# One Google Benchmark or plain executable per folder under bench/ (bench/<name>/*.cpp → bench_<name>).
function(kuai_benches)
  file(GLOB dirs LIST_DIRECTORIES true ${PROJECT_SOURCE_DIR}/bench/*)
  foreach(dir IN LISTS dirs)
    if(NOT IS_DIRECTORY ${dir})
      continue()
    endif()
    get_filename_component(name ${dir} NAME)
    file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.cpp)
    if(NOT srcs)
      continue()
    endif()
    add_executable(bench_${name} ${srcs})
    target_include_directories(bench_${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/bench)
    target_link_libraries(bench_${name} PRIVATE kuai_server kuai_stages kuai_fakeup kuai_tools kuai_train kuai_test_support benchmark::benchmark)
    target_compile_options(bench_${name} PRIVATE -Wno-error)
    add_dependencies(bench_${name} kuai)
  endforeach()
endfunction()
