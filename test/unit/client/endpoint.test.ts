/**
 * Goal: a client picks TLS from the URL's scheme alone and never downgrades (issue 12): https,
 * grpcs and LiveKit's wss are TLS; http, grpc, ws and bare host:port are plaintext; an unknown
 * scheme is an error, not a guess. Method: parseEndpoint on strings.
 */
import { expect, it } from 'vitest';
import { parseEndpoint } from '../../../src/client/endpoint.js';

it('reads TLS from the scheme, with the scheme’s default port', () => {
  expect(parseEndpoint('127.0.0.1:9001')).toEqual({ hostPort: '127.0.0.1:9001', secure: false });
  expect(parseEndpoint('http://127.0.0.1:9001/')).toEqual({ hostPort: '127.0.0.1:9001', secure: false });
  expect(parseEndpoint('grpc://rr.local:9001')).toEqual({ hostPort: 'rr.local:9001', secure: false });
  expect(parseEndpoint('grpcs://rr.local:9001')).toEqual({ hostPort: 'rr.local:9001', secure: true });
  expect(parseEndpoint('HTTPS://rr.example.com/twirp')).toEqual({ hostPort: 'rr.example.com:443', secure: true });
  expect(parseEndpoint('wss://lk.example.com')).toEqual({ hostPort: 'lk.example.com:443', secure: true });
  expect(parseEndpoint('https://[::1]:9001')).toEqual({ hostPort: '[::1]:9001', secure: true });
});

it('refuses a scheme it does not know', () => {
  expect(() => parseEndpoint('ftp://rr.local:9001')).toThrow(/unsupported URL scheme "ftp:\/\/"/);
});
