# cmake -DGRADATTR=... -DFASHION_MNIST=... -DWORK_DIR=... -P view_browser_test.cmake  (ctest "cli: view browser")
# `gradattr view` as a browser sees it (docs/sweep.md, "Gallery"): a small sweep with --save-maps,
# its gallery loaded by headless Chromium from the file system. A probe page opens the index and
# one image page in iframes (--allow-file-access-from-files) and writes into its own DOM, which
# --dump-dom prints: the number of map <img> elements, how many failed to load, whether a click
# on a header sorts the table. Chromium's log must hold no console error ("Uncaught",
# ERROR:CONSOLE, "Failed to load resource"). Without Chromium: prints GRADATTR-SKIPPED (ctest:
# skipped, not passed).
function(run)
  cmake_parse_arguments(R "" "CWD" "" ${ARGN})
  execute_process(COMMAND ${R_UNPARSED_ARGUMENTS} WORKING_DIRECTORY ${R_CWD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${R_UNPARSED_ARGUMENTS}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

find_program(CHROMIUM NAMES chromium chromium-browser google-chrome)
if(NOT CHROMIUM)
  message("GRADATTR-SKIPPED: no chromium on PATH (Debian: apt-get install chromium)")
  return()
endif()
set(images ${FASHION_MNIST}/t10k-images-idx3-ubyte.gz)
if(NOT EXISTS ${images})
  message(FATAL_ERROR "Fashion-MNIST is not at ${FASHION_MNIST} (Debian: dataset-fashion-mnist)")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(ENV{OMP_NUM_THREADS} 1)
# 3 images x (gradcam, ig) x (pre, post): 12 rows, 4 maps a page.
run(${GRADATTR} sweep --idx ${images} --labels ${FASHION_MNIST}/t10k-labels-idx1-ubyte.gz --class label --methods gradcam,ig
    --scores pre,post --steps 3 --metrics deletion --metric-steps 4 --save-maps --limit 3 --out r.sqlite CWD ${WORK_DIR})
run(${GRADATTR} view r.sqlite --out gallery CWD ${WORK_DIR})

file(WRITE ${WORK_DIR}/probe.html [=[<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>
<pre id="result">probe did not run</pre>
<iframe id="index" src="gallery/index.html" width="900" height="600"></iframe>
<iframe id="page" src="gallery/images/1.html" width="900" height="600"></iframe>
<script>
"use strict";
var loaded = 0;
function imgs(doc, sel) {
  var all = doc.querySelectorAll(sel), broken = 0;
  all.forEach(function (i) { if (!i.complete || i.naturalWidth === 0) broken++; });
  return [all.length, broken];
}
function check() {
  if (++loaded < 2) return;
  var ix = document.getElementById("index").contentDocument, pg = document.getElementById("page").contentDocument;
  var t = imgs(ix, "img.thumb"), m = imgs(pg, "img.map"), inp = imgs(pg, "img.input");
  // Sorting: click the deletion AUC header once (ascending), read the column.
  ix.querySelector('th[data-col="8"]').click();
  var vals = Array.prototype.map.call(ix.querySelectorAll("#rows tbody tr"), function (r) { return parseFloat(r.cells[8].dataset.v); });
  var sorted = vals.every(function (v, k) { return k === 0 || vals[k - 1] <= v; });
  // Filtering: method ig leaves half the rows.
  var sel = ix.getElementById("fmethod"); sel.value = "ig"; sel.dispatchEvent(new Event("change"));
  var shown = Array.prototype.filter.call(ix.querySelectorAll("#rows tbody tr"), function (r) { return r.style.display !== "none"; }).length;
  document.getElementById("result").textContent = "RESULT thumbs=" + t[0] + " thumbs_broken=" + t[1] + " maps=" + m[0] + " maps_broken=" + m[1] +
      " inputs=" + inp[0] + " inputs_broken=" + inp[1] + " rows=" + vals.length + " sorted=" + sorted + " ig_rows=" + shown + " END";
}
document.getElementById("index").addEventListener("load", check);
document.getElementById("page").addEventListener("load", check);
</script></body></html>
]=])
run(${CHROMIUM} --headless --no-sandbox --disable-gpu --allow-file-access-from-files --virtual-time-budget=5000
    --enable-logging=stderr --v=0 --dump-dom file://${WORK_DIR}/probe.html CWD ${WORK_DIR})
if(NOT out MATCHES "RESULT ([^<]*) END")
  message(FATAL_ERROR "the probe page did not report (Chromium's DOM):\n${out}\n${err}")
endif()
set(result "${CMAKE_MATCH_1}")
set(expected "thumbs=12 thumbs_broken=0 maps=4 maps_broken=0 inputs=1 inputs_broken=0 rows=12 sorted=true ig_rows=6")
if(NOT result STREQUAL expected)
  message(FATAL_ERROR "gallery in Chromium: ${result}\nexpected:          ${expected}")
endif()
string(REGEX MATCHALL "[^\n]*(Uncaught|ERROR:CONSOLE|Failed to load resource)[^\n]*" console "${err}")
if(console)
  message(FATAL_ERROR "console errors in Chromium's log:\n${console}")
endif()
# A screenshot of the image page, kept for a human to look at.
run(${CHROMIUM} --headless --no-sandbox --disable-gpu --window-size=900,900 --screenshot=${WORK_DIR}/page.png
    file://${WORK_DIR}/gallery/images/1.html CWD ${WORK_DIR})
if(NOT EXISTS ${WORK_DIR}/page.png)
  message(FATAL_ERROR "Chromium wrote no screenshot")
endif()
message("view in Chromium: ${result}")
