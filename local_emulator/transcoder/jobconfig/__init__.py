"""The Transcoder v1 JobConfig, one module per section of the REST reference (validation, defaults, field paths):

    inputs.py        inputs[] and editList[] (which files, the output timeline)
    preprocessing.py inputs[].preprocessingConfig (deinterlace, crop, pad, denoise, deblock, color, audio) + filters
    elementary.py    elementaryStreams[]: videoStream, audioStream (mapping -> pan filter), textStream
    mux.py           muxStreams[] (containers, file names, segment settings)
    manifests.py     manifests[] (HLS / DASH); the files themselves: ../manifests.py
    sprites.py       spriteSheets[]
    job.py           Job / JobTemplate bodies, output, adBreaks, pubsubDestination, output name clashes
    common.py        JSON helpers shared by all of them

Everything works on the camelCase JSON form and raises ``ApiError`` INVALID_ARGUMENT naming the field.
"""
