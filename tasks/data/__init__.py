"""The tasks' data, apart from their science: readers, parsers and LightningDataModules,
one module per form or data set. Nothing here imports a task module (tasks/*.py); a task
passes its settings object in, and its `datamodule` is one call into one of these.

- sources.py      where data comes from: the data directory, the hub, the processed-tensor cache
- tables.py       TSV/CSV, JSON Lines, Parquet and text files through `datasets`' generic loaders
- hub.py          hub data sets by id plus a column mapping: splits, columns, ClassLabel names
- inspect.py      what the readers found, without training (`data check`)
- loader.py       the DataLoader every real-data split goes through (pinned memory, seeded shuffle)
- synthetic.py    copy and adding batches, generated on the training device from a seed
- sequences.py    variable-length token sequences (vocabulary, length buckets, padding)
- conll.py        CoNLL-style tagged sentences (ner)
- tagged_hub.py   token and tag columns of a hub data set (ner)
- labeled_text.py labeled texts: tables, class files, class folders, or the hub (sentiment)
- corpus.py       text corpora for language modelling: tokens, vocabulary, truncated-BPTT batches
- char_text.py    a plain-text file split by position into characters, or a text data set from the hub (char_lm)
- word_text.py    train/valid/test text files of sentences, or a text data set from the hub (word_lm)
- time_series.py  a CSV of numeric columns cut into lookback/horizon windows (forecast)
- mnist.py        MNIST digits as pixel sequences: IDX or Parquet files, or ylecun/mnist from the hub (smnist)
"""
