"""The authors' released checkpoints (Chen & Zwicker 2022, `bizarre_pose_models.zip`), read and converted
without torch and without running anything from the files (see ../shared/paper-weights.md):

    reader.py     a restricted unpickler: tensors come back as lazy numpy arrays, every other global is an
                  inert stand-in, anything the pickle would call is refused (CheckpointError)
    sources.py    the files to import: a zip (members streamed, never extracted), a folder, single files
    recognise.py  which released model a checkpoint is, from its keys
    convert.py    key maps and exact conversions onto PoseFinder's networks (numpy)
    importer.py   one checkpoint at a time: read, convert, write safetensors + card, install
"""
