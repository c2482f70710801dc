(function(){
const data=JSON.parse(document.getElementById('sweep-data').textContent);
const params=data.parameters, runs=data.runs, byIndex={};
runs.forEach(r=>{byIndex[r.index]=r;});
const cards={};document.querySelectorAll('figure.run').forEach(f=>{cards[f.dataset.index]=f;});
const keys=['index'].concat(params,['seed','seconds','status']);
function value(r,k){return k==='index'||k==='seed'||k==='seconds'||k==='status'?r[k]:r.values[k];}
function cmp(a,b){if(a===b)return 0;if(a===null||a===undefined)return 1;if(b===null||b===undefined)return -1;
 return (typeof a==='number'&&typeof b==='number')?a-b:String(a).localeCompare(String(b),undefined,{numeric:true});}
function distinct(k){const seen=new Map();runs.forEach(r=>{const v=value(r,k);seen.set(JSON.stringify(v),v);});
 return Array.from(seen.values()).sort(cmp);}
function option(sel,val,text){const o=document.createElement('option');o.value=val;o.textContent=text;sel.appendChild(o);}
const sort=document.getElementById('sort'),rows=document.getElementById('rows'),cols=document.getElementById('cols');
keys.forEach(k=>option(sort,k,k));option(rows,'','(none)');option(cols,'','(none)');
params.concat(['seed']).forEach(k=>{option(rows,k,k);option(cols,k,k);});
const filters={},box=document.getElementById('filters');
params.concat(['seed']).forEach(k=>{
 const vals=distinct(k),label=document.createElement('label');label.textContent=k+' ';
 if(vals.length<=40||typeof vals[0]!=='number'){const s=document.createElement('select');option(s,'','all');
  vals.forEach(v=>option(s,JSON.stringify(v),String(v)));s.dataset.key=k;label.appendChild(s);filters[k]={sel:s};}
 else{const lo=document.createElement('input'),hi=document.createElement('input');
  [lo,hi].forEach((i,n)=>{i.type='number';i.step='any';i.className='num';i.placeholder=n?'max':'min';label.appendChild(i);});
  filters[k]={lo:lo,hi:hi};}
 box.appendChild(label);});
const status=document.getElementById('status');
function keep(r){
 for(const k in filters){const f=filters[k],v=value(r,k);
  if(f.sel&&f.sel.value!==''&&JSON.stringify(v)!==f.sel.value)return false;
  if(f.lo&&f.lo.value!==''&&!(v>=Number(f.lo.value)))return false;
  if(f.hi&&f.hi.value!==''&&!(v<=Number(f.hi.value)))return false;}
 const s=status.value;
 if(s==='cached')return r.cache==='all';if(s==='unfinished')return r.status!=='done'&&r.status!=='failed';
 return !s||r.status===s;}
function state(){const st={sort:sort.value,rows:rows.value,cols:cols.value,status:status.value,f:{}};
 for(const k in filters){const f=filters[k];st.f[k]=f.sel?[f.sel.value]:[f.lo.value,f.hi.value];}return st;}
function restore(){try{const st=JSON.parse(decodeURIComponent(location.hash.slice(1)));
 sort.value=st.sort||'index';rows.value=st.rows||'';cols.value=st.cols||'';status.value=st.status||'';
 for(const k in st.f||{}){const f=filters[k];if(!f)continue;if(f.sel)f.sel.value=st.f[k][0];
  else{f.lo.value=st.f[k][0];f.hi.value=st.f[k][1];}}}catch(e){}}
function gridOf(list){const g=document.createElement('div');g.className='grid';list.forEach(r=>g.appendChild(cards[r.index]));return g;}
function render(){
 const shown=runs.filter(keep).sort((a,b)=>cmp(value(a,sort.value),value(b,sort.value))||a.index-b.index);
 const sheet=document.getElementById('sheet');Object.values(cards).forEach(c=>c.remove());sheet.textContent='';
 document.getElementById('count').textContent=shown.length+' of '+runs.length+' runs';
 history.replaceState(null,'','#'+encodeURIComponent(JSON.stringify(state())));
 const rk=rows.value,ck=cols.value;
 if(!rk&&!ck){sheet.appendChild(gridOf(shown));return;}
 const rv=rk?distinct(rk):[null],cv=ck?distinct(ck):[null];
 const table=document.createElement('table');table.className='xy';const head=table.insertRow();
 const corner=document.createElement('th');corner.textContent=(rk||'')+(rk&&ck?' \\ ':'')+(ck||'');head.appendChild(corner);
 cv.forEach(c=>{const th=document.createElement('th');th.textContent=ck?ck+' '+c:'';head.appendChild(th);});
 rv.forEach(rvv=>{const tr=table.insertRow();const th=document.createElement('th');th.className='row';
  th.textContent=rk?rk+' '+rvv:'';tr.appendChild(th);
  cv.forEach(cvv=>{const td=tr.insertCell();td.appendChild(gridOf(shown.filter(r=>
   (!rk||JSON.stringify(value(r,rk))===JSON.stringify(rvv))&&(!ck||JSON.stringify(value(r,ck))===JSON.stringify(cvv)))));});});
 sheet.appendChild(table);}
document.getElementById('controls').addEventListener('change',render);
document.getElementById('controls').addEventListener('input',render);
const viewer=document.getElementById('viewer'),media=document.getElementById('media');
document.addEventListener('click',e=>{const a=e.target.closest('figure.run a');if(!a)return;e.preventDefault();
 media.textContent='';const el=document.createElement(a.dataset.kind==='video'?'video':'img');el.src=a.getAttribute('href');
 if(a.dataset.kind==='video'){el.controls=true;el.autoplay=true;el.loop=true;}media.appendChild(el);viewer.hidden=false;});
function closeViewer(){viewer.hidden=true;media.textContent='';}
document.getElementById('close').addEventListener('click',closeViewer);
document.addEventListener('keydown',e=>{if(e.key==='Escape')closeViewer();});
sort.value='index';restore();render();
})();
