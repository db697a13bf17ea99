#pragma once
// Every attribution method (docs/methods.md §2–§3), each a class template on a score space:
//   GradCam, GradCamPlus, GradCamPlusPlus, HiResCam, XGradCam, LayerCam  (gradient_cams.hpp)
//   ScoreCam                                                              (score_cam.hpp)
//   RsiGradCam, IntegratedGradCam                                         (path_cams.hpp)
//   Saliency, InputXGradient, IntegratedGradients, SmoothGrad             (input_methods.hpp)
//   AttentionRollout, AttentionRelevance (models with attention layers)   (attention.hpp)
// Results: Attribution<T> (result.hpp); targets: Target (target.hpp).
#include "gradattr/attribution/attention.hpp"
#include "gradattr/attribution/gradient_cams.hpp"
#include "gradattr/attribution/input_methods.hpp"
#include "gradattr/attribution/path_cams.hpp"
#include "gradattr/attribution/result.hpp"
#include "gradattr/attribution/score_cam.hpp"
#include "gradattr/attribution/target.hpp"
