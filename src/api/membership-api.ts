import type { AddMemberRequest, ListMembersResponse, Member as MemberJson } from '../gen/roomregistry/v1/rooms.js';
import { RegistryError } from '../lib/errors.js';
import { type NodeId, nodeId } from '../lib/ids.js';
import { addressProblem, encodeMemberContext } from '../node/member-context.js';
import type { Member } from '../node/members.js';
import type { RaftNode } from '../node/node.js';

/** MembershipControl is what ClusterService's membership RPCs need from the node. */
export interface MembershipControl {
  listMembers(): ListMembersResponse;
  addMember(req: AddMemberRequest, deadlineMs: number): Promise<number>;
  promoteMember(id: string, deadlineMs: number): Promise<number>;
  removeMember(id: string, deadlineMs: number): Promise<number>;
}

const MEMBER_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/**
 * nodeMembership serves the membership RPCs from a RaftNode; `reachable` says whether the
 * transport has heard from a peer since its stream last broke.
 */
export function nodeMembership(node: RaftNode, reachable: (id: NodeId) => boolean): MembershipControl {
  return {
    listMembers: () => listMembers(node, reachable),
    addMember: (req, deadlineMs) => {
      const id = checkedId(req.id);
      for (const key of ['grpc', 'peer', 'http'] as const) {
        const problem = addressProblem(key, req[key]);
        if (problem !== null) throw new RegistryError('INVALID_ARGUMENT', problem);
      }
      const context = encodeMemberContext({
        region: req.region,
        grpc: req.grpc,
        peer: req.peer,
        http: req.http,
        promote: !req.learner,
      });
      // A voter-to-be starts as a learner: it would count toward the quorum before it holds the log.
      return node.changeMembership({ op: 'addLearner', id, context }, deadlineMs);
    },
    promoteMember: (id, deadlineMs) =>
      node.changeMembership({ op: 'promote', id: checkedId(id), context: '' }, deadlineMs),
    removeMember: (id, deadlineMs) =>
      node.changeMembership({ op: 'remove', id: checkedId(id), context: '' }, deadlineMs),
  };
}

function checkedId(id: string): NodeId {
  if (!MEMBER_ID.test(id))
    throw new RegistryError('INVALID_ARGUMENT', `member id "${id}" must be letters, digits, - or _`);
  return nodeId(id);
}

function listMembers(node: RaftNode, reachable: (id: NodeId) => boolean): ListMembersResponse {
  const status = node.status();
  const progress = status.progress;
  return {
    members: node.members().map((m): MemberJson => {
      const p = progress?.[m.id];
      const match = m.id === node.id && progress !== null ? status.lastIndex : (p?.match ?? 0);
      return {
        ...addresses(m),
        id: m.id,
        role: m.role,
        promote: m.context?.promote === true,
        progressKnown: progress !== null,
        match,
        lag: progress === null ? 0 : Math.max(0, status.lastIndex - match),
        reachable: m.id === node.id || (progress !== null && reachable(m.id)),
      };
    }),
    leader: status.leader ?? '',
    answeredBy: node.id,
  };
}

function addresses(m: Member): Pick<MemberJson, 'region' | 'grpc' | 'peer' | 'http'> {
  const c = m.context;
  return { region: c?.region ?? '', grpc: c?.grpc ?? '', peer: c?.peer ?? '', http: c?.http ?? '' };
}
