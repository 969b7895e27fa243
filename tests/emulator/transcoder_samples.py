"""Our own copies of the API calls of every snippet in Google's python-docs-samples ``video/transcoder`` (no file of
theirs is vendored): the same client methods with the same JobConfig fields and values, written from the public v1
reference. One difference: the snippets build ``TranscoderServiceClient()`` themselves; these take the client, so
the conformance test hands them one built with ``transport="rest"``, the local endpoint and anonymous credentials.

Used by tests/emulator/test_transcoder_samples_conformance.py (no tests here).
"""

from __future__ import annotations

from google.cloud.video import transcoder_v1
from google.cloud.video.transcoder_v1.services.transcoder_service import TranscoderServiceClient
from google.protobuf import duration_pb2

T = transcoder_v1.types


def _parent(project_id: str, location: str) -> str:
    return f"projects/{project_id}/locations/{location}"


def _seconds(value: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=value)


def _sd_hd_config() -> transcoder_v1.types.JobConfig:
    """The two-rendition MP4 config of create_job_from_ad_hoc and create_job_template."""
    return T.JobConfig(
        elementary_streams=[
            T.ElementaryStream(key="video-stream0", video_stream=T.VideoStream(h264=T.VideoStream.H264CodecSettings(
                height_pixels=360, width_pixels=640, bitrate_bps=550000, frame_rate=60))),
            T.ElementaryStream(key="video-stream1", video_stream=T.VideoStream(h264=T.VideoStream.H264CodecSettings(
                height_pixels=720, width_pixels=1280, bitrate_bps=2500000, frame_rate=60))),
            T.ElementaryStream(key="audio-stream0", audio_stream=T.AudioStream(codec="aac", bitrate_bps=64000)),
        ],
        mux_streams=[
            T.MuxStream(key="sd", container="mp4", elementary_streams=["video-stream0", "audio-stream0"]),
            T.MuxStream(key="hd", container="mp4", elementary_streams=["video-stream1", "audio-stream0"]),
        ],
    )


def _sd_streams() -> list[transcoder_v1.types.ElementaryStream]:
    """The 640x360 video + AAC pair most snippets use."""
    return [
        T.ElementaryStream(key="video-stream0", video_stream=T.VideoStream(h264=T.VideoStream.H264CodecSettings(
            height_pixels=360, width_pixels=640, bitrate_bps=550000, frame_rate=60))),
        T.ElementaryStream(key="audio-stream0", audio_stream=T.AudioStream(codec="aac", bitrate_bps=64000)),
    ]


def _sd_mp4() -> list[transcoder_v1.types.MuxStream]:
    return [T.MuxStream(key="sd", container="mp4", elementary_streams=["video-stream0", "audio-stream0"])]


# ------------------------------------------------------------------------------------------------ jobs


def create_job_from_ad_hoc(client: TranscoderServiceClient, project_id: str, location: str, input_uri: str,
                           output_uri: str) -> transcoder_v1.types.Job:
    job = T.Job(input_uri=input_uri, output_uri=output_uri, config=_sd_hd_config())
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_from_preset(client: TranscoderServiceClient, project_id: str, location: str, input_uri: str,
                           output_uri: str, preset: str) -> transcoder_v1.types.Job:
    job = T.Job(input_uri=input_uri, output_uri=output_uri, template_id=preset)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_from_preset_batch_mode(client: TranscoderServiceClient, project_id: str, location: str,
                                      input_uri: str, output_uri: str, preset: str) -> transcoder_v1.types.Job:
    job = T.Job(input_uri=input_uri, output_uri=output_uri, template_id=preset,
                mode=T.Job.ProcessingMode.PROCESSING_MODE_BATCH, batch_mode_priority=10)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_from_template(client: TranscoderServiceClient, project_id: str, location: str, input_uri: str,
                             output_uri: str, template_id: str) -> transcoder_v1.types.Job:
    job = T.Job(input_uri=input_uri, output_uri=output_uri, template_id=template_id)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_with_static_overlay(client: TranscoderServiceClient, project_id: str, location: str, input_uri: str,
                                   overlay_image_uri: str, output_uri: str) -> transcoder_v1.types.Job:
    config = T.JobConfig(
        elementary_streams=_sd_streams(), mux_streams=_sd_mp4(),
        overlays=[T.Overlay(
            image=T.Overlay.Image(uri=overlay_image_uri, resolution=T.Overlay.NormalizedCoordinate(x=1, y=0.5),
                                  alpha=1),
            animations=[
                T.Overlay.Animation(animation_static=T.Overlay.AnimationStatic(
                    xy=T.Overlay.NormalizedCoordinate(x=0, y=0), start_time_offset=_seconds(0))),
                T.Overlay.Animation(animation_end=T.Overlay.AnimationEnd(start_time_offset=_seconds(10))),
            ])],
    )
    job = T.Job(input_uri=input_uri, output_uri=output_uri, config=config)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_with_animated_overlay(client: TranscoderServiceClient, project_id: str, location: str,
                                     input_uri: str, overlay_image_uri: str,
                                     output_uri: str) -> transcoder_v1.types.Job:
    def fade(kind: transcoder_v1.types.Overlay.FadeType, start: int, end: int) -> transcoder_v1.types.Overlay.Animation:
        return T.Overlay.Animation(animation_fade=T.Overlay.AnimationFade(
            fade_type=kind, xy=T.Overlay.NormalizedCoordinate(x=0.5, y=0.5), start_time_offset=_seconds(start),
            end_time_offset=_seconds(end)))

    config = T.JobConfig(
        elementary_streams=_sd_streams(), mux_streams=_sd_mp4(),
        overlays=[T.Overlay(
            image=T.Overlay.Image(uri=overlay_image_uri, resolution=T.Overlay.NormalizedCoordinate(x=0, y=0),
                                  alpha=1),
            animations=[fade(T.Overlay.FadeType.FADE_IN, 5, 10), fade(T.Overlay.FadeType.FADE_OUT, 12, 15)])],
    )
    job = T.Job(input_uri=input_uri, output_uri=output_uri, config=config)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_with_concatenated_inputs(client: TranscoderServiceClient, project_id: str, location: str,
                                        input1_uri: str, start_time_input1: str, end_time_input1: str,
                                        input2_uri: str, start_time_input2: str, end_time_input2: str,
                                        output_uri: str) -> transcoder_v1.types.Job:
    def duration(text: str) -> duration_pb2.Duration:
        value = duration_pb2.Duration()
        value.FromJsonString(text)
        return value

    config = T.JobConfig(
        inputs=[T.Input(key="input1", uri=input1_uri), T.Input(key="input2", uri=input2_uri)],
        edit_list=[
            T.EditAtom(key="atom1", inputs=["input1"], start_time_offset=duration(start_time_input1),
                       end_time_offset=duration(end_time_input1)),
            T.EditAtom(key="atom2", inputs=["input2"], start_time_offset=duration(start_time_input2),
                       end_time_offset=duration(end_time_input2)),
        ],
        elementary_streams=_sd_streams(), mux_streams=_sd_mp4(),
    )
    job = T.Job(output_uri=output_uri, config=config)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_with_embedded_captions(client: TranscoderServiceClient, project_id: str, location: str,
                                      input_video_uri: str, input_captions_uri: str,
                                      output_uri: str) -> transcoder_v1.types.Job:
    config = T.JobConfig(
        inputs=[T.Input(key="input0", uri=input_video_uri), T.Input(key="caption-input0", uri=input_captions_uri)],
        edit_list=[T.EditAtom(key="atom0", inputs=["input0", "caption-input0"])],
        elementary_streams=[
            *_sd_streams(),
            T.ElementaryStream(key="cea-stream0", text_stream=T.TextStream(
                codec="cea608",
                mapping_=[T.TextStream.TextMapping(atom_key="atom0", input_key="caption-input0", input_track=0)],
                language_code="en-US", display_name="English")),
        ],
        mux_streams=[
            T.MuxStream(key="sd-hls", container="ts", elementary_streams=["video-stream0", "audio-stream0"]),
            T.MuxStream(key="sd-dash", container="fmp4", elementary_streams=["video-stream0"]),
            T.MuxStream(key="audio-dash", container="fmp4", elementary_streams=["audio-stream0"]),
        ],
        manifests=[
            T.Manifest(file_name="manifest.m3u8", type_="HLS", mux_streams=["sd-hls"]),
            T.Manifest(file_name="manifest.mpd", type_="DASH", mux_streams=["sd-dash", "audio-dash"]),
        ],
    )
    job = T.Job(output_uri=output_uri, config=config)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_with_standalone_captions(client: TranscoderServiceClient, project_id: str, location: str,
                                        input_video_uri: str, input_subtitles1_uri: str, input_subtitles2_uri: str,
                                        output_uri: str) -> transcoder_v1.types.Job:
    def webvtt(key: str, language: str, name: str, input_key: str) -> transcoder_v1.types.ElementaryStream:
        return T.ElementaryStream(key=key, text_stream=T.TextStream(
            codec="webvtt", language_code=language, display_name=name,
            mapping_=[T.TextStream.TextMapping(atom_key="atom0", input_key=input_key)]))

    def vtt_mux(key: str, stream: str) -> transcoder_v1.types.MuxStream:
        return T.MuxStream(key=key, container="vtt", elementary_streams=[stream],
                           segment_settings=T.SegmentSettings(segment_duration=_seconds(6), individual_segments=True))

    config = T.JobConfig(
        inputs=[T.Input(key="input0", uri=input_video_uri),
                T.Input(key="subtitle-input-en", uri=input_subtitles1_uri),
                T.Input(key="subtitle-input-es", uri=input_subtitles2_uri)],
        edit_list=[T.EditAtom(key="atom0", inputs=["input0", "subtitle-input-en", "subtitle-input-es"])],
        elementary_streams=[
            *_sd_streams(),
            webvtt("vtt-stream-en", "en-US", "English", "subtitle-input-en"),
            webvtt("vtt-stream-es", "es-ES", "Spanish", "subtitle-input-es"),
        ],
        mux_streams=[
            T.MuxStream(key="sd-hls-fmp4", container="fmp4", elementary_streams=["video-stream0"]),
            T.MuxStream(key="audio-hls-fmp4", container="fmp4", elementary_streams=["audio-stream0"]),
            vtt_mux("text-vtt-en", "vtt-stream-en"),
            vtt_mux("text-vtt-es", "vtt-stream-es"),
        ],
        manifests=[T.Manifest(file_name="manifest.m3u8", type_="HLS",
                              mux_streams=["sd-hls-fmp4", "audio-hls-fmp4", "text-vtt-en", "text-vtt-es"])],
    )
    job = T.Job(output_uri=output_uri, config=config)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_with_periodic_images_spritesheet(client: TranscoderServiceClient, project_id: str, location: str,
                                                input_uri: str, output_uri: str) -> transcoder_v1.types.Job:
    config = T.JobConfig(
        elementary_streams=_sd_streams(), mux_streams=_sd_mp4(),
        sprite_sheets=[
            T.SpriteSheet(file_prefix="small-sprite-sheet", sprite_width_pixels=64, sprite_height_pixels=32,
                          interval=_seconds(7)),
            T.SpriteSheet(file_prefix="large-sprite-sheet", sprite_width_pixels=128, sprite_height_pixels=72,
                          interval=_seconds(7)),
        ],
    )
    job = T.Job(input_uri=input_uri, output_uri=output_uri, config=config)
    return client.create_job(parent=_parent(project_id, location), job=job)


def create_job_with_set_number_images_spritesheet(client: TranscoderServiceClient, project_id: str, location: str,
                                                  input_uri: str, output_uri: str) -> transcoder_v1.types.Job:
    config = T.JobConfig(
        elementary_streams=_sd_streams(), mux_streams=_sd_mp4(),
        sprite_sheets=[
            T.SpriteSheet(file_prefix="small-sprite-sheet", sprite_width_pixels=64, sprite_height_pixels=32,
                          column_count=10, row_count=10, total_count=100),
            T.SpriteSheet(file_prefix="large-sprite-sheet", sprite_width_pixels=128, sprite_height_pixels=72,
                          column_count=10, row_count=10, total_count=100),
        ],
    )
    job = T.Job(input_uri=input_uri, output_uri=output_uri, config=config)
    return client.create_job(parent=_parent(project_id, location), job=job)


def get_job(client: TranscoderServiceClient, project_id: str, location: str, job_id: str) -> transcoder_v1.types.Job:
    return client.get_job(name=f"{_parent(project_id, location)}/jobs/{job_id}")


def get_job_state(client: TranscoderServiceClient, project_id: str, location: str, job_id: str) -> str:
    """The snippet prints ``Job state: <name>``; this returns the name it prints."""
    response = client.get_job(name=f"{_parent(project_id, location)}/jobs/{job_id}")
    return str(response.state.name)


def list_jobs(client: TranscoderServiceClient, project_id: str, location: str) -> list[str]:
    """The names the snippet prints (it iterates ``response.jobs``: the first page)."""
    response = client.list_jobs(parent=_parent(project_id, location))
    return [job.name for job in response.jobs]


def delete_job(client: TranscoderServiceClient, project_id: str, location: str, job_id: str) -> None:
    return client.delete_job(name=f"{_parent(project_id, location)}/jobs/{job_id}")


# ------------------------------------------------------------------------------------------------ job templates


def create_job_template(client: TranscoderServiceClient, project_id: str, location: str,
                        template_id: str) -> transcoder_v1.types.JobTemplate:
    job_template = T.JobTemplate(name=f"{_parent(project_id, location)}/jobTemplates/{template_id}",
                                 config=_sd_hd_config())
    return client.create_job_template(parent=_parent(project_id, location), job_template=job_template,
                                      job_template_id=template_id)


def get_job_template(client: TranscoderServiceClient, project_id: str, location: str,
                     template_id: str) -> transcoder_v1.types.JobTemplate:
    return client.get_job_template(name=f"{_parent(project_id, location)}/jobTemplates/{template_id}")


def list_job_templates(client: TranscoderServiceClient, project_id: str, location: str) -> list[str]:
    response = client.list_job_templates(parent=_parent(project_id, location))
    return [template.name for template in response.job_templates]


def delete_job_template(client: TranscoderServiceClient, project_id: str, location: str, template_id: str) -> None:
    return client.delete_job_template(name=f"{_parent(project_id, location)}/jobTemplates/{template_id}")
