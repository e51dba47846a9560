"""The classify stage (`fullchain classify`) and `fullchain classifier train`: model-based quality
and safety classifiers.

- features.py: hashed word and character n-gram features (numpy)
- training.py: the seeded split and the logistic regression; metrics.py: precision, recall, AUC
- hashed_model.py: the trained classifier's folder (config.json + model.safetensors), written and read
- train_config.py, train_cli.py: `fullchain classifier train`
- config.py: ClassifyConfig, the stage's section of the run config
"""
