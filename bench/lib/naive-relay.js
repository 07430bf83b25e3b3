/**
 * Baseline for SPEC §9: the naive Node relay. Speaks just enough of the chat protocol
 * (HELLO, REGISTER, LOGIN, LISTEN, GROUP_CREATE, GROUP_JOIN, SEND, PING, BYE) for the
 * benchmark clients, keeps everything in memory (no journal, no fsync, no passwords),
 * and fans a message out with one socket.write() per delivery: the MESSAGE frame is
 * encoded once, then written to each listening member in turn, then the SEND is
 * answered. No corking, no batching, no backpressure policy. TCP_NODELAY is on (as a
 * chat server would set it) unless opts.nagle is true.
 *
 *   node bench/lib/naive-relay.js '{"nagle":false}'
 */
import net from 'node:net';
import { FrameDecoder } from '../../dist/protocol/frame.js';
import { decodeFrame, encodeError, encodePush, encodeReply } from '../../dist/protocol/messages.js';
import { PROTOCOL_VERSION } from '../../dist/protocol/commands.js';
import { installCounters } from './counters.js';
import { reportReady } from './proc.js';

const opts = JSON.parse(process.argv[2] || '{}');
await installCounters();
const groups = new Map(); // name -> Set<Conn>
let seq = 0;

const server = net.createServer({ noDelay: !opts.nagle }, (socket) => {
  const conn = { socket, user: undefined, listen: false, groups: new Set() };
  const decoder = new FrameDecoder();
  socket.on('data', (chunk) => {
    let frames;
    try { frames = decoder.push(chunk); } catch { socket.destroy(); return; }
    for (const f of frames) handle(conn, f);
  });
  socket.on('error', () => {});
  socket.on('close', () => { for (const g of conn.groups) groups.get(g)?.delete(conn); });
});

function profile(name) {
  return { name, displayName: name, admin: false, createdTs: Date.now() };
}

function groupInfo(name, members) {
  return { name, private: false, owner: '', memberCount: members.size, joined: true };
}

function handle(conn, frame) {
  let d;
  try { d = decodeFrame(frame); } catch { conn.socket.destroy(); return; }
  const { name, reqId, payload: p } = d;
  const reply = (payload) => conn.socket.write(encodeReply(name, reqId, payload));
  switch (name) {
    case 'HELLO':
      return reply({ version: PROTOCOL_VERSION, server: 'naive-relay', role: 'primary', registration: true,
        maxFrame: 1 << 20, maxText: 1 << 16, pingMs: 0, journalId: '0'.repeat(32), headSeq: 0 });
    case 'REGISTER':
    case 'LOGIN':
      conn.user = p.name;
      return reply({ token: `t-${p.name}`, profile: profile(p.name) });
    case 'LISTEN':
      conn.listen = p.on;
      return reply({ headSeq: 0 }); // stores nothing, so nothing to catch up
    case 'PING':
    case 'BYE':
      return reply({});
    case 'GROUP_CREATE':
    case 'GROUP_JOIN': {
      let members = groups.get(p.group);
      if (!members) groups.set(p.group, (members = new Set()));
      members.add(conn);
      conn.groups.add(p.group);
      return reply({ group: groupInfo(p.group, members) });
    }
    case 'SEND': {
      const members = groups.get(p.target);
      if (!members || !conn.groups.has(p.target)) {
        return conn.socket.write(encodeError(reqId, 'CHAT_ERR_PERMISSION', 'not a member'));
      }
      const message = { seq: ++seq, kind: 0, from: conn.user, group: p.target, text: p.text, ts: Date.now() };
      const push = encodePush('MESSAGE', { message });
      for (const m of members) if (m.listen) m.socket.write(push); // one write per delivery
      return reply({ message, duplicate: false });
    }
    default:
      return conn.socket.write(encodeError(reqId, 'CHAT_ERR_UNKNOWN_COMMAND', `naive relay: ${name} not supported`));
  }
}

server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const { address, port } = server.address();
  reportReady({ host: address, port, server: 'naive-relay', noDelay: !opts.nagle }, () => new Promise((r) => {
    server.close(() => r());
    for (const s of groups.values()) for (const c of s) c.socket.destroy();
  }));
});
