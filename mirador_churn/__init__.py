"""A customer-churn model trained end to end: data → 8 features → a PyTorch MLP → one ONNX file → MLflow.

The main entry points are here at the top level; each is imported on first use (PEP 562), so `import mirador_churn`
is quick and PyTorch is loaded only when a name that needs it is used (`train`, `ChurnMLP`, `train_model`...):

    from mirador_churn import generate_synthetic, build_features, ChurnScorer
    ds = generate_synthetic(seed=42)
    scores = ChurnScorer.load('outputs/model.onnx').predict_proba(build_features(ds.customers, ds.orders))

Pages: https://mirador.github.io/mirador_churn (one per module, in import order: core, data, features, scoring, model,
export, drift, tracking, sql, spark, source, pipeline, monitor, insights, serve, promote, testing, cli).
"""
__version__ = "0.1.0"

import importlib as _importlib

_LAZY = {  # name: the module that defines it
    'ChurnDataset': 'data', 'generate_synthetic': 'data', 'load_dataset': 'data', 'save_dataset': 'data',
    'validate_dataset': 'data', 'dataset_checksum': 'data', 'redact': 'data',
    'ChurnError': 'core', 'DataError': 'core', 'ConfigError': 'core', 'run_cli': 'core',
    'ChurnConfig': 'features', 'FEATURES': 'features', 'build_features': 'features',
    'build_training_table': 'features', 'time_split': 'features',
    'ChurnScorer': 'scoring',
    'resolve_model': 'tracking',
    'train': 'pipeline', 'TrainResult': 'pipeline',
    'ChurnMLP': 'model', 'TrainConfig': 'model', 'train_model': 'model',
    'export_onnx': 'export',
}
__all__ = list(_LAZY)

def __getattr__(name:str):
    "Import `name` from its module on first use and keep it here (PEP 562)"
    if name.startswith('__') or name not in _LAZY:
        raise AttributeError(f"module 'mirador_churn' has no attribute {name!r}")
    value = globals()[name] = getattr(_importlib.import_module(f'{__name__}.{_LAZY[name]}'), name)
    return value

def __dir__(): return sorted({*globals(), *_LAZY})
