"""The classify stage (`fullchain classify`) and `fullchain classifier train`: model-based quality
and safety classifiers (docs/CLASSIFY.md).

- features.py: hashed word and character n-gram features (numpy)
- training.py: the seeded split and the logistic regression; metrics.py: precision, recall, AUC
- hashed_model.py: the trained classifier's folder (config.json + model.safetensors), written and read
- train_config.py, train_cli.py: `fullchain classifier train`
- hf_classifier.py: a Hugging Face sequence-classification folder, checked, loaded and run
- classifiers.py: the configured classifiers: kinds, labels, thresholds, the preflight, loading
- judging.py: the pure core of the stage (meta annotations, the filter verdict)
- model_handler.py: the RunInference ModelHandler; beam.py: `ClassifyDocuments`
- config.py: ClassifyConfig, the stage's section of the run config
"""
