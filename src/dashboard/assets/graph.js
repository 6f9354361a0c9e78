// Draws a campaign's cluster with sigma.js (WebGL) from the layout the server computed and cached,
// so a 2,000-node cluster opens at once: the browser only places what it is given.

const NODE_COLOURS = { account: '#d1495b', device: '#2456a6', subnet: '#2a9d8f', asn: '#e9a23b' };
const EDGE_COLOURS = { device: '#8fa8d6', subnet: '#8fcac2', asn: '#f0c987', 'in-step': '#b39ad0' };

/** Renders {nodes, edges} into the container; returns what it drew. */
export function drawGraph(container, data) {
  const nodes = (data && data.nodes) || [];
  const edges = (data && data.edges) || [];
  if (nodes.length === 0) {
    container.append(document.createTextNode('No graph for this campaign.'));
    return { nodes: 0, edges: 0, sigma: null };
  }
  // eslint-disable-next-line no-undef
  const Graph = graphology.Graph;
  const graph = new Graph({ multi: true, type: 'undirected', allowSelfLoops: false });
  for (const n of nodes) {
    graph.addNode(n.id, {
      x: Number(n.x) || 0,
      y: Number(n.y) || 0,
      size: Math.max(4, Math.min(20, Number(n.size) || 4)),
      label: n.label == null ? null : String(n.label),
      color: NODE_COLOURS[n.kind] || '#7b4fa0',
      kind: n.kind,
    });
  }
  for (const e of edges) {
    if (!graph.hasNode(e.source) || !graph.hasNode(e.target) || e.source === e.target) continue;
    graph.addEdge(e.source, e.target, { color: EDGE_COLOURS[e.kind] || '#c8ccd4', size: e.kind === 'in-step' ? 1.5 : 1, kind: e.kind });
  }
  // eslint-disable-next-line no-undef
  const SigmaClass = Sigma.Sigma || Sigma;
  const sigma = new SigmaClass(graph, container, {
    settings: {
      // Labels (account ids, device ids, subnets) on clusters small enough to read them.
      renderLabels: nodes.length <= 300,
      labelRenderedSizeThreshold: nodes.length <= 60 ? 0 : 8,
      // The server's sizes are pixels on screen, whatever the extent of its layout.
      itemSizesReference: 'screen',
    },
  });
  // An account node opens that account's page (its label is the account id).
  sigma.on('clickNode', ({ node }) => {
    const a = graph.getNodeAttributes(node);
    if (a.kind === 'account' && a.label) location.assign(`/dashboard/accounts/${encodeURIComponent(a.label)}`);
  });
  sigma.on('enterNode', ({ node }) => {
    container.style.cursor = graph.getNodeAttribute(node, 'kind') === 'account' ? 'pointer' : 'default';
  });
  sigma.on('leaveNode', () => {
    container.style.cursor = 'default';
  });
  container.dataset.drawn = 'true';
  return { nodes: graph.order, edges: graph.size, sigma };
}
