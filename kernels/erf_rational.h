// erf(z) ≈ z P(z²) / Q(z²) on z in [-4, 4] (beyond, erf is ±1 to float precision): the rational
// approximation of XLA and Eigen (generic_fast_erf_float), accurate to 4e-7 absolute in float.
// Shared by the inference GELU's vector code (simd_math.inc) and its scalar twin.
#pragma once

namespace fwsvd::kernels {

constexpr float kErfRationalClamp = 4.0f;
// Coefficients of z², lowest degree first.
constexpr float kErfRationalP[] = {
    -1.60960333262415e-02f, -2.95459980854025e-03f, -7.34990630326855e-04f, -5.69250639462346e-05f,
    -2.10102402082508e-06f, 2.77068142495902e-08f,  -2.72614225801306e-10f};
constexpr float kErfRationalQ[] = {-1.42647390514189e-02f, -7.37332916720468e-03f,
                                   -1.68282697438203e-03f, -2.13374055278905e-04f,
                                   -1.45660718464996e-05f};
// Inputs of the inference GELU below this give 0 (gelu(-14) is -1e-43).
constexpr float kGeluInferenceLow = -14.0f;

}  // namespace fwsvd::kernels
