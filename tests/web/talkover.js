// Init script for the barge-in test in tests/web/test_browser.py: a microphone the test speaks into, and a
// view of the page's peer connection. Runs before the page's own script.
//
// window.__mic.play(url): the microphone says the WAV file at `url` (resolves once it has started). Between
// files it sends silence, like a microphone in a quiet room. getUserMedia hands out this stream.
// window.__talk.events: every JSON event the page received on its data channel, in order.
// window.__talk.loudness(seconds): the RMS level of the avatar's audio the browser received and rendered
// over the next `seconds` of it (inbound-rtp totalAudioEnergy / totalSamplesDuration).
(() => {
  const context = new AudioContext({ sampleRate: 48000 });
  const microphone = context.createMediaStreamDestination();
  const room = context.createConstantSource();  // silence: with no input, the stream would stop sending
  room.offset.value = 0;
  room.connect(microphone);
  room.start();
  window.__mic = {
    async play(url) {
      const wav = await (await fetch(url)).arrayBuffer();
      const buffer = await context.decodeAudioData(wav);
      await context.resume();
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(microphone);
      source.start();
    },
  };
  navigator.mediaDevices.getUserMedia = async () => microphone.stream.clone();

  const talk = { events: [], connections: [] };
  window.__talk = talk;
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      talk.connections.push(this);
    }

    createDataChannel(...args) {
      const channel = super.createDataChannel(...args);
      channel.addEventListener("message", (message) => talk.events.push(JSON.parse(message.data)));
      return channel;
    }
  };

  async function received() {
    const pc = talk.connections[talk.connections.length - 1];
    for (const stat of (await pc.getStats()).values()) {
      if (stat.type === "inbound-rtp" && stat.kind === "audio") {
        return { energy: stat.totalAudioEnergy ?? 0, duration: stat.totalSamplesDuration ?? 0 };
      }
    }
    return { energy: 0, duration: 0 };
  }

  talk.loudness = async (seconds, timeoutMs = 30000) => {
    const first = await received();
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const now = await received();
      const span = now.duration - first.duration;
      if (span >= seconds) return Math.sqrt(Math.max(now.energy - first.energy, 0) / span);
      if (performance.now() > deadline) throw new Error(`only ${span} s of the avatar's audio in ${timeoutMs} ms`);
    }
  };
})();
