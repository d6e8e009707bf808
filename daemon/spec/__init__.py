"""The spec-kit model: task files, spec documents, references. Pure: no I/O."""
