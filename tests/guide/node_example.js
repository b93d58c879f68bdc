const WebSocket = require('ws');
class OrderRoutingWebSocket {
constructor(token, sandbox = true) {
this.token = token;
this.uri = sandbox
? 'wss://ws.sandbox.paxos.com/'
: 'wss://ws.paxos.com/';
this.ws = null;
this.orderBooks = new Map();
this.updateBuffers = new Map(); // Buffer updates per market
this.reconnectDelay = 5000;
}
connect() {
this.ws = new WebSocket(this.uri, {
headers: {
'Authorization': `Bearer ${this.token}`
}
});
this.ws.on('open', () => {
console.log('Connected to Smart Order Routing WebSocket');
this.subscribeToMarkets(['BTCUSD', 'ETHUSD']);
});
this.ws.on('message', (data) => {
this.handleMessage(JSON.parse(data));
});
this.ws.on('error', (error) => {
console.error('WebSocket error:', error);
});
this.ws.on('close', () => {
console.log('Connection closed, reconnecting...');
setTimeout(() => this.connect(), this.reconnectDelay);
});
}
subscribeToMarkets(markets) {
const channels = [];
markets.forEach(market => {
channels.push({
type: 'market_data',
params: { market }
});
channels.push({
type: 'execution_data',
params: { market }
});
});
const subscribeMessage = {
type: 'subscribe',
channels
};
this.ws.send(JSON.stringify(subscribeMessage));
}
handleMessage(message) {
// Handle subscription responses
if (message.type === 'subscribe') {
message.channels.forEach(channel => {
if (channel.success) {
console.log(`Subscribed to ${channel.type}`);
} else {
console.error(`Failed to subscribe: ${channel.error}`);
}
});
return;
}
// Handle market data
if (message.channel === 'market_data') {
this.processMarketData(message.payload);
}
// Handle execution data
if (message.channel === 'execution_data') {
this.processExecution(message.payload);
}
}
processMarketData(data) {
const market = data.market;
if (data.type === 'SNAPSHOT') {
// Initialize order book from snapshot
const orderBook = {
bids: new Map(),
asks: new Map(),
snapshotTime: data.time
};
data.bids.forEach(level => {
orderBook.bids.set(level.price, level.amount);
});
data.asks.forEach(level => {
orderBook.asks.set(level.price, level.amount);
});
this.orderBooks.set(market, orderBook);
console.log(`Order book initialized for ${market} at ${data.time}`);
// Apply any buffered updates after snapshot time
const bufferedUpdates = this.updateBuffers.get(market) || [];
const validUpdates = bufferedUpdates.filter(update =>
update.time > data.time
);
validUpdates.forEach(update => this.applyUpdate(market, update));
this.updateBuffers.delete(market);
} else if (data.type === 'UPDATE') {
const orderBook = this.orderBooks.get(market);
if (!orderBook || !orderBook.snapshotTime) {
// Buffer updates until snapshot arrives
if (!this.updateBuffers.has(market)) {
this.updateBuffers.set(market, []);
}
this.updateBuffers.get(market).push(data);
} else {
// Apply update to existing order book
this.applyUpdate(market, data);
}
}
}
applyUpdate(market, update) {
const orderBook = this.orderBooks.get(market);
if (!orderBook) return;
// Apply bid updates
if (update.bids) {
update.bids.forEach(level => {
if (level.amount === '0') {
orderBook.bids.delete(level.price);
} else {
orderBook.bids.set(level.price, level.amount);
}
});
}
// Apply ask updates
if (update.asks) {
update.asks.forEach(level => {
if (level.amount === '0') {
orderBook.asks.delete(level.price);
} else {
orderBook.asks.set(level.price, level.amount);
}
});
}
}
processExecution(execution) {
// Process trade executions
console.log(`Execution: ${execution.amount} ${execution.market} @ ${execution.price}`);
}
disconnect() {
if (this.ws) {
this.ws.close();
}
}
}
// Usage
const client = new OrderRoutingWebSocket('{your_access_token}', true);
client.connect();
