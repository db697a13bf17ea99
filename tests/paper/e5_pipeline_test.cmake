# cmake -DGRADATTR=... -DPAPER=... -DSOURCE_DIR=... -DFASHION_MNIST=... -DWORK_DIR=... [-DONNX=ON] -P e5_pipeline_test.cmake
# (ctest "paper: e5 from gradattr sweep"). E5 as scripts/run-paper-experiments.sh runs it: a
# `gradattr sweep` into a database, then `paper_experiments e5 --sweep` reads it
# (examples/paper/e5_faithfulness.hpp). Checks:
#  - the tables have every method × explanation × evaluation row and the random map's;
#  - two --shard runs merged give byte-identical E5 tables to the single run (the report's
#    experiments scale out as the sweep does; `mpirun` ranks write shards the same way);
#  - a sweep made by another commit, or of another model, is refused, naming what differs;
#  - with ONNX: the trained ViT's sweep read the same way (E11's faithfulness part).
function(run)
  cmake_parse_arguments(R "" "CWD" "" ${ARGN})
  execute_process(COMMAND ${R_UNPARSED_ARGUMENTS} WORKING_DIRECTORY ${R_CWD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 300)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${R_UNPARSED_ARGUMENTS}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()
function(expect_lines file n)
  file(STRINGS ${file} lines)
  list(LENGTH lines have)
  if(NOT have EQUAL n)
    message(FATAL_ERROR "${file}: ${have} lines, expected ${n}")
  endif()
endfunction()

set(images ${FASHION_MNIST}/t10k-images-idx3-ubyte.gz)
if(NOT EXISTS ${images})
  message(FATAL_ERROR "Fashion-MNIST is not at ${FASHION_MNIST} (Debian: dataset-fashion-mnist)")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(ENV{OMP_NUM_THREADS} 1)
set(weights ${SOURCE_DIR}/examples/data/fashion_vgg.safetensors)
# The commit the sweep records is the CLI build's: E5 must be told the same one.
run(${GRADATTR} --version CWD ${WORK_DIR})
string(REGEX MATCH "\\(commit ([^)]+)\\)" _ "${out}")
set(commit ${CMAKE_MATCH_1})
if(commit STREQUAL "")
  message(FATAL_ERROR "no commit in `gradattr --version`: ${out}")
endif()

# 3 images x 2 methods x 4 score spaces + the random map, curves under all four score spaces.
set(sweep sweep --idx ${images} --limit 3 --weights ${weights} --methods gradcam,saliency --scores pre,post,log,centered
    --steps 3 --samples 3 --metrics deletion,insertion --metric-score pre,post,log,centered --metric-steps 4 --metric-batch 5
    --random-baseline)
run(${GRADATTR} ${sweep} --out one.sqlite CWD ${WORK_DIR})
run(${PAPER} e5 --sweep one.sqlite --weights ${weights} --commit ${commit} --out one CWD ${WORK_DIR})
expect_lines(${WORK_DIR}/one/e5_faithfulness.csv 37)  # header + 2 methods x 4 x 4 + random x 4
file(READ ${WORK_DIR}/one/e5_run.md run_md)
if(NOT run_md MATCHES "sweep: `gradattr sweep --idx [^`]*--random-baseline")
  message(FATAL_ERROR "e5_run.md does not record the sweep's command:\n${run_md}")
endif()

# Shards merged: the same tables, byte for byte.
run(${GRADATTR} ${sweep} --shard 0/2 --out s0.sqlite CWD ${WORK_DIR})
run(${GRADATTR} ${sweep} --shard 1/2 --out s1.sqlite CWD ${WORK_DIR})
run(${GRADATTR} merge s0.sqlite s1.sqlite --out merged.sqlite CWD ${WORK_DIR})
run(${PAPER} e5 --sweep merged.sqlite --weights ${weights} --commit ${commit} --out merged CWD ${WORK_DIR})
foreach(t e5_faithfulness.csv e5_faithfulness_wide.csv e5_auc_ci.csv e5_auc_cmp.csv e5_ci_eval_post.csv)
  file(READ ${WORK_DIR}/one/${t} a)
  file(READ ${WORK_DIR}/merged/${t} b)
  if(NOT a STREQUAL b)
    message(FATAL_ERROR "${t}: the merged shards' E5 differs from the single sweep's")
  endif()
endforeach()

# Refusals: another commit; another model.
execute_process(COMMAND ${PAPER} e5 --sweep one.sqlite --weights ${weights} --commit not-${commit} --out bad
                WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0 OR NOT err MATCHES "made by gradattr at ${commit}")
  message(FATAL_ERROR "a sweep of another commit was not refused (${rc}): ${err}")
endif()
execute_process(COMMAND ${PAPER} e5 --sweep one.sqlite --weights ${SOURCE_DIR}/examples/data/vit_fashion.onnx --commit ${commit} --out bad
                WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0 OR NOT err MATCHES "SHA-256")
  message(FATAL_ERROR "a sweep of another model was not refused (${rc}): ${err}")
endif()

# E11's faithfulness: the trained ViT (ONNX) swept with every method, evaluated with Post.
if(ONNX)
  set(vit ${SOURCE_DIR}/examples/data/vit_fashion.onnx)
  run(${GRADATTR} sweep --idx ${images} --limit 2 --weights ${vit} --methods gradcam,rollout --scores pre,post,log,centered
      --steps 2 --samples 2 --metrics deletion,insertion --metric-score post --metric-steps 4 --random-baseline --out vit.sqlite
      CWD ${WORK_DIR})
  run(${PAPER} e5 --sweep vit.sqlite --weights ${vit} --commit ${commit} --out vit CWD ${WORK_DIR})
  expect_lines(${WORK_DIR}/vit/e5_faithfulness.csv 10)  # header + 2 methods x 4 explanation spaces + random, Post only
endif()
message("e5 pipeline: ok (commit ${commit})")
