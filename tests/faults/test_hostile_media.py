"""Files made to turn ffmpeg against the service: ffprobe and ffmpeg open the uploaded file and
nothing else, a recording longer than the limit is refused, and one that makes ffmpeg spin or
balloon ends as a failed job with a plain reason, never as a stuck converter.

ffmpeg recognises a file by its content, whatever it is called, and some of the formats it knows
are lists of other things to open. Each such list here points at a real recording on the
gateway's and the converter's disk, where it would be read if it were followed.
"""
import subprocess
import textwrap
import uuid

import pytest

from mp3common import jobs, media, messages, storage
from tests.conftest import make_video, media_duration, wait_until_sources_deleted
from tests.faults.conftest import (
    job_count,
    mp3_blob_count,
    publish_video_message,
    restarted_with,
    wait_until_idle,
)

pytestmark = pytest.mark.timeout(180)

UNSUPPORTED = media.UNSUPPORTED_MESSAGE

@pytest.fixture(scope="module")
def secret_recording(upload_dir):
    """Someone else's recording, on the disk the gateway spools uploads to."""
    path = upload_dir / "secret.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=330:duration=5",
                    "-c:a", "aac", str(path)], check=True)
    yield path
    path.unlink()


def hls_playlist(target):
    """An HLS playlist whose one segment is the target, by absolute path."""
    return textwrap.dedent(f"""\
        #EXTM3U
        #EXT-X-VERSION:3
        #EXT-X-TARGETDURATION:10
        #EXTINF:5.0,
        file://{target}
        #EXT-X-ENDLIST
    """)


def concat_script(target):
    """An ffconcat script; its safe mode allows names relative to the script, which is enough."""
    return f"ffconcat version 1.0\nfile {target.name}\n"


def dash_manifest(target):
    """A DASH manifest whose one representation is the target."""
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT5S"
             minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
          <Period><AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="64000">
            <BaseURL>file://{target}</BaseURL>
          </Representation></AdaptationSet></Period>
        </MPD>
    """)


def imf_composition(target):
    """An IMF composition playlist; the asset map beside it (ASSETMAP.xml) names the target."""
    asset_id = f"urn:uuid:{uuid.uuid4()}"
    (target.parent / "ASSETMAP.xml").write_text(textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <AssetMap xmlns="http://www.smpte-ra.org/schemas/429-9/2007/AM"><Id>urn:uuid:{uuid.uuid4()}</Id>
          <AssetList><Asset><Id>{asset_id}</Id>
            <ChunkList><Chunk><Path>{target.name}</Path></Chunk></ChunkList></Asset></AssetList>
        </AssetMap>
    """))
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <CompositionPlaylist xmlns="http://www.smpte-ra.org/schemas/2067-3/2016"
                             xmlns:cc="http://www.smpte-ra.org/schemas/2067-2/2016">
          <Id>urn:uuid:{uuid.uuid4()}</Id><ContentTitle>t</ContentTitle><EditRate>25 1</EditRate>
          <SegmentList><Segment><Id>urn:uuid:{uuid.uuid4()}</Id><SequenceList>
            <cc:MainAudioSequence><Id>urn:uuid:{uuid.uuid4()}</Id><TrackId>urn:uuid:{uuid.uuid4()}</TrackId>
              <ResourceList><Resource><Id>urn:uuid:{uuid.uuid4()}</Id><EditRate>48000 1</EditRate>
                <IntrinsicDuration>240000</IntrinsicDuration><TrackFileId>{asset_id}</TrackFileId>
              </Resource></ResourceList>
            </cc:MainAudioSequence></SequenceList></Segment></SegmentList>
        </CompositionPlaylist>
    """)


def sdp_session(target):
    """A session description: ffmpeg would listen for RTP audio on a local port."""
    return "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=talk\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n"


# (builder, whether ffprobe without this service's rules follows it to the target's audio). The
# ones marked True prove the test builds a real attack; imf is not recognised by content in
# this ffmpeg and sdp waits for the network, but a later ffmpeg may do either.
POINTING_ELSEWHERE = [
    pytest.param(hls_playlist, True, id="hls"),
    pytest.param(concat_script, True, id="concat"),
    pytest.param(dash_manifest, True, id="dash"),
    pytest.param(imf_composition, False, id="imf"),
    pytest.param(sdp_session, False, id="sdp"),
]


def follows_to_audio_without_our_rules(path):
    """Whether plain ffprobe, given ``path``, finds an audio stream (it opens what the file names)."""
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv", str(path)],
                            capture_output=True, text=True, timeout=30, check=False)
    return "audio" in result.stdout


@pytest.mark.parametrize("build, followed_unguarded", POINTING_ELSEWHERE)
def test_a_file_that_points_at_another_file_is_refused_at_upload_and_nothing_is_converted(
    system, client, secret_recording, tmp_path, mail, mongo_client, build, followed_unguarded
):
    # Named like a video, as an attacker would: the name changes nothing.
    pointer = secret_recording.parent / f"pointer-{uuid.uuid4().hex[:8]}.mp4"
    pointer.write_text(build(secret_recording))
    try:
        if followed_unguarded:
            assert follows_to_audio_without_our_rules(pointer), "the file would lead ffmpeg to the recording"

        response = client.upload(pointer)
    finally:
        pointer.unlink()

    assert response.status_code == 422, response.text
    assert response.json()["error"] == {"code": "unsupported_media", "message": UNSUPPORTED}
    assert job_count(mongo_client, client.email) == 0
    assert mail.messages_to(client.email) == []


def store_job_directly(mongo_client, client, path, media_info):
    """A job and its source written straight into MongoDB, as a replayed or forged message would
    find them: the gateway never probed this file."""
    job_id = jobs.new_job_id()
    filename = "replayed.mp4"
    with open(path, "rb") as source:
        video_fid = storage.Bucket(mongo_client, storage.VIDEOS_DB).put(
            source, filename, {"job_id": job_id, "owner_id": client.user_id, "filename": filename})
    jobs.Jobs(mongo_client).create(job_id=job_id, owner_id=client.user_id, email=client.email, filename=filename,
                                   preset=None, video_fid=video_fid, correlation_id=f"test-{job_id}",
                                   media=media_info)
    return messages.job_message(job_id, f"test-{job_id}")


@pytest.mark.parametrize("build", [hls_playlist, dash_manifest], ids=lambda build: build.__name__)
@pytest.mark.parametrize("probed", [True, False], ids=["with-the-upload-probe", "without-a-probe"])
def test_the_converter_applies_the_same_rules_to_a_file_the_gateway_never_checked(
    system, client, secret_recording, tmp_path, mail, mongo_client, amqp_url, build, probed
):
    pointer = tmp_path / "playlist.mp4"
    pointer.write_text(build(secret_recording))
    assert follows_to_audio_without_our_rules(pointer)
    # With the probe a real upload would have left (the converter then runs no ffprobe of its
    # own, and ffmpeg itself must refuse), or with none (the converter probes first).
    media_info = {"duration_seconds": 5.0, "audio_codec": "aac", "audio_channels": 1} if probed else None
    message = store_job_directly(mongo_client, client, pointer, media_info)

    publish_video_message(amqp_url, message)

    job = client.wait_until_finished(message["job_id"])
    assert (job["state"], job["error"]) == ("failed", UNSUPPORTED)
    [email] = mail.wait_for(client.email)
    assert UNSUPPORTED in email.get_payload(decode=True).decode()
    assert mp3_blob_count(mongo_client, message["job_id"]) == 0
    wait_until_sources_deleted(mongo_client, message["job_id"])


def test_a_webm_named_mp4_still_converts(system, client, tmp_path, mongo_client):
    webm = make_video(tmp_path / "clip.webm", seconds=3, video_codec="libvpx-vp9", audio_codec="libopus")
    misnamed = webm.rename(tmp_path / "clip.mp4")

    response = client.upload(misnamed)

    assert response.status_code == 202, response.text
    job = client.wait_until_finished(response.json()["job_id"])
    assert job["state"] == "done", job
    download = tmp_path / "clip.mp3"
    download.write_bytes(client.download(job["mp3_fid"]))
    duration, codec = media_duration(download)
    assert codec == "mp3" and duration == pytest.approx(3, abs=0.2)


def streamed_webm_without_duration(path, seconds):
    """A WebM written to a pipe, as a browser's recorder does: no duration in its header."""
    with open(path, "wb") as output:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                        f"sine=frequency=440:duration={seconds}", "-c:a", "libopus", "-f", "webm", "pipe:1"],
                       stdout=output, check=True)
    return path


def test_a_recording_whose_length_shows_only_as_it_converts_is_stopped_at_the_limit(
    system, client, tmp_path, mail, mongo_client, amqp_url
):
    limit_seconds = 20
    stream = streamed_webm_without_duration(tmp_path / "recording.webm", seconds=limit_seconds * 3)
    assert media.probe(str(stream)).duration_seconds is None, "the length must be unknown at upload"

    with restarted_with(system["converter"], MAX_DURATION_SECONDS=str(limit_seconds)):
        response = client.upload(stream)
        assert response.status_code == 202, response.text
        job = client.wait_until_finished(response.json()["job_id"])
        wait_until_idle(amqp_url)

    reason = f"The recording is longer than the limit of {limit_seconds} s."
    assert (job["state"], job["error"]) == ("failed", reason)
    [email] = mail.wait_for(client.email)
    assert email["Subject"] == "We could not convert recording.webm"
    assert reason in email.get_payload(decode=True).decode()
    assert mp3_blob_count(mongo_client, job["id"]) == 0


@pytest.fixture(scope="module")
def two_hour_recording(tmp_path_factory):
    """Two hours of low-bitrate Opus (6 MB): an upload that costs little to send and far more
    than a second of CPU to convert, on a much faster machine than this one too."""
    directory = tmp_path_factory.mktemp("long")
    minute = directory / "minute.ogg"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=60",
                    "-c:a", "libopus", "-b:a", "6k", str(minute)], check=True)
    # Looped by copying packets, which takes a moment, not by encoding two hours.
    recording = directory / "night-recording.ogg"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-stream_loop", "119", "-i", str(minute), "-c", "copy",
                    str(recording)], check=True)
    return recording


@pytest.mark.parametrize(
    "limit, reason",
    [
        ({"MEDIA_CPU_SECONDS": "1"}, "Converting the file took more processing time than this service allows."),
        # Below what ffmpeg needs to load its libraries: its allocations fail at once, as those
        # of a file crafted to make the decoder balloon fail at the limit.
        ({"MEDIA_MEMORY_BYTES": str(150 * 1024**2)},
         "Converting the file needed more memory than this service allows."),
    ],
    ids=["cpu", "memory"],
)
def test_a_file_that_needs_more_than_the_limits_allow_fails_its_job_with_a_plain_reason(
    system, client, two_hour_recording, mail, mongo_client, amqp_url, limit, reason
):
    with restarted_with(system["converter"], **limit):
        response = client.upload(two_hour_recording)
        assert response.status_code == 202, response.text
        job = client.wait_until_finished(response.json()["job_id"], timeout=120)
        wait_until_idle(amqp_url)

    assert (job["state"], job["error"]) == ("failed", reason)
    assert len(mail.wait_for(client.email)) == 1
    assert mp3_blob_count(mongo_client, job["id"]) == 0
    wait_until_sources_deleted(mongo_client, job["id"])
