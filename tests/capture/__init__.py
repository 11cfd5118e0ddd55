"""The capture engine: parser, frame sources, flows, attribution, against real namespaces."""
